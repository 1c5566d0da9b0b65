// Atomic checkpoint saves: a writer killed (SIGKILL) at random points never leaves a broken checkpoint, and
// a save that fails (no directory, a write error, a rename error, a dictionary that cannot be encoded)
// leaves the old file exactly as it was, with no temporary file behind.
#include <gtest/gtest.h>
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "descent/descent.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A fresh directory per test, removed at the end.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static std::atomic<unsigned> counter{0};
    path_ = fs::temp_directory_path() /
            ("descent-test-atomic-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const noexcept { return path_; }

 private:
  fs::path path_;
};

// A dictionary big enough that a save takes a measurable time (about 5 MB), whose every tensor and the
// marker "which" differ between 'A' and 'B'.
StateDict make_dict(char which, std::size_t floats = std::size_t{1} << 20) {
  const float base = which == 'A' ? 1.0f : -3.0f;
  std::vector<float> w(floats);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = base + 1e-6f * static_cast<float>(i % 100003);
  std::vector<double> m(floats / 8);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = (which == 'A' ? 0.5 : 0.25) * static_cast<double>(i);
  StateDict dict;
  dict.tensors["model/weight"] =
      Tensor::of<float>(std::span<const float>(w), {static_cast<std::int64_t>(floats / 64), 64});
  dict.tensors["state/moment"] = Tensor::of<double>(std::span<const double>(m), {static_cast<std::int64_t>(m.size())});
  dict.tensors["state/step"] = Tensor::scalar(std::int64_t{which == 'A' ? 100 : 200});
  dict.metadata["which"] = std::string(1, which);
  dict.metadata["optimizer"] = which == 'A' ? "adam" : "sgd";
  return dict;
}

std::vector<std::byte> read_bytes(const fs::path& path) {
  std::vector<std::byte> bytes(fs::file_size(path));
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) bytes.clear();
  return bytes;
}

// The names in `dir` that save_checkpoint uses for temporary files of `path`: ".<name>.tmp-<pid>-<n>".
std::vector<std::string> temp_files(const fs::path& dir, const fs::path& path) {
  const std::string prefix = "." + path.filename().string() + ".tmp-";
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0) found.push_back(name);
  }
  return found;
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// True when `loaded` holds exactly `want`: every tensor byte for byte, and every metadata value of `want`.
bool same(const StateDict& loaded, const StateDict& want) {
  if (loaded.tensors != want.tensors) return false;
  for (const auto& [key, value] : want.metadata) {
    const auto it = loaded.metadata.find(key);
    if (it == loaded.metadata.end() || it->second != value) return false;
  }
  return true;
}

// A forked writer: killed and reaped on every way out of the test, so that a failed assertion leaves no
// process behind.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const noexcept { return pid_; }
  // waitpid's status; the child is gone afterwards.
  int reap() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) status = -1;
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

// Both ends of a pipe, closed on every way out.
class Pipe {
 public:
  Pipe() { ok_ = ::pipe(fds_) == 0; }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_writing();
    if (ok_) ::close(fds_[0]);
  }
  bool ok() const noexcept { return ok_; }
  int reading() const noexcept { return fds_[0]; }
  int writing() const noexcept { return fds_[1]; }
  void close_writing() {
    if (ok_ && fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
  bool ok_ = false;
};

// The writer, in a forked child. It first warms its allocator up, so that its saves run at their steady pace
// rather than at the pace of a fresh process first touching its memory (which would leave little of each
// save's time to the file itself); then it writes one byte to `ready`, saves B, A, B, A... to `path`, `saves`
// times (forever when 0), and writes the seconds those saves took to `ready`. It never returns into gtest.
[[noreturn]] void writer(int ready, const fs::path& path, const StateDict& a, const StateDict& b, int saves) {
  try {
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the big buffers come from the heap and stay there, warm
    ::mallopt(M_TRIM_THRESHOLD, 1 << 30);
    (void)encode_checkpoint(b);  // touches the heap that every later save reuses
    const char go = 'g';
    if (::write(ready, &go, 1) != 1) ::_exit(4);
    const auto start = Clock::now();
    for (int i = 0; saves == 0 || i < saves; ++i) save_checkpoint(path, i % 2 == 0 ? b : a);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    if (::write(ready, &took, sizeof took) != static_cast<ssize_t>(sizeof took)) ::_exit(4);
  } catch (...) {
    ::_exit(3);
  }
  ::_exit(0);
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// A child process saves B, A, B, A... to `path` until it is killed at a random moment; after every kill the
// checkpoint loads and is exactly A or exactly B, never a mix or a torn file.
TEST(CheckpointAtomic, WriterKilledAtRandomNeverLeavesABrokenFile) {
  const auto test_start = Clock::now();
  TempDir dir("kill");
  const fs::path path = dir.path() / "run.safetensors";
  const StateDict a = make_dict('A'), b = make_dict('B');
  const std::vector<std::byte> file_a = encode_checkpoint(a), file_b = encode_checkpoint(b);
  ASSERT_TRUE(file_a != file_b);

  // How long the writer takes for two saves (B, then A), measured the way it runs: in a forked child, warmed
  // up. The kills spread uniformly over that, from the moment the writer starts saving.
  const fs::path scratch = dir.path() / "scratch.safetensors";
  std::vector<double> cycles;
  for (int i = 0; i < 3; ++i) {
    Pipe pipe;
    ASSERT_TRUE(pipe.ok()) << "pipe: " << std::strerror(errno);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << "fork: " << std::strerror(errno);
    if (pid == 0) writer(pipe.writing(), scratch, a, b, 2);
    Child child(pid);
    pipe.close_writing();
    char go = 0;
    double took = 0;
    ASSERT_EQ(::read(pipe.reading(), &go, 1), 1) << "the writer died before it started";
    ASSERT_EQ(::read(pipe.reading(), &took, sizeof took), static_cast<ssize_t>(sizeof took)) << "the writer failed";
    const int status = child.reap();
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a save failed in the child, status " << status;
    cycles.push_back(took);
  }
  fs::remove(scratch);
  std::sort(cycles.begin(), cycles.end());
  const double two_saves = cycles[cycles.size() / 2];

  save_checkpoint(path, a);
  constexpr int kKills = 50;
  std::mt19937 rng(20240611);
  std::uniform_real_distribution<double> delay(0.0, two_saves);
  int seen_a = 0, seen_b = 0, mid_write = 0, broken = 0;
  double starting = 0, slept = 0, loading = 0;
  for (int k = 0; k < kKills; ++k) {
    const double sleep_s = delay(rng);
    Pipe pipe;
    ASSERT_TRUE(pipe.ok()) << "pipe: " << std::strerror(errno);
    const auto fork_start = Clock::now();
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0) << "fork: " << std::strerror(errno);
    if (pid == 0) writer(pipe.writing(), path, a, b, 0);
    Child child(pid);
    pipe.close_writing();
    char go = 0;
    ASSERT_EQ(::read(pipe.reading(), &go, 1), 1) << "the writer died before it started";
    starting += seconds_since(fork_start);
    std::this_thread::sleep_for(std::chrono::duration<double>(sleep_s));
    slept += sleep_s;
    ASSERT_EQ(::kill(pid, SIGKILL), 0) << std::strerror(errno);
    const int status = child.reap();
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer stopped by itself (a save failed in the child), status " << status;

    // A temporary file left behind means the kill landed between creating it and renaming it.
    const auto stale = temp_files(dir.path(), path);
    EXPECT_LE(stale.size(), 1u);
    if (!stale.empty()) {
      ++mid_write;
      EXPECT_NE(stale.front().find(".tmp-" + std::to_string(pid) + "-"), std::string::npos) << stale.front();
      for (const auto& name : stale) fs::remove(dir.path() / name);
    }

    StateDict loaded;
    const auto load_start = Clock::now();
    try {
      loaded = load_checkpoint(path);
      loading += seconds_since(load_start);
    } catch (const Error& e) {
      ++broken;
      ADD_FAILURE() << "kill " << k << " after " << sleep_s << " s left a broken checkpoint: " << e.what();
      continue;
    }
    const std::string which = loaded.meta("which");
    if (which == "A") {
      EXPECT_TRUE(same(loaded, a)) << "kill " << k << ": marked A but not A's content";
      EXPECT_EQ(fs::file_size(path), file_a.size()) << "kill " << k;
      ++seen_a;
    } else if (which == "B") {
      EXPECT_TRUE(same(loaded, b)) << "kill " << k << ": marked B but not B's content";
      EXPECT_EQ(fs::file_size(path), file_b.size()) << "kill " << k;
      ++seen_b;
    } else {
      ADD_FAILURE() << "kill " << k << ": marker '" << which << "'";
    }
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"run.safetensors"});
  const std::vector<std::byte> last = read_bytes(path);  // byte for byte one of the two files
  EXPECT_TRUE(last == file_a || last == file_b);

  const double total = seconds_since(test_start);
  std::cout << "[ atomic   ] two saves in a warm writer " << two_saves * 1e3 << " ms (" << file_a.size() << " bytes); "
            << kKills << " kills: " << mid_write << " mid-write, A " << seen_a << ", B " << seen_b << ", broken "
            << broken << "; " << total << " s (" << starting << " s starting writers, " << slept
            << " s asleep before the kills, " << loading << " s loading)\n";
  RecordProperty("two_saves_ms", std::to_string(two_saves * 1e3));
  RecordProperty("kills", kKills);
  RecordProperty("mid_write_kills", mid_write);
  RecordProperty("seen_a", seen_a);
  RecordProperty("seen_b", seen_b);
  EXPECT_EQ(seen_a + seen_b, kKills);
  // Kills that all landed outside a write would prove nothing.
  EXPECT_GT(mid_write, 0) << "no kill landed mid-write; two saves take " << two_saves * 1e3 << " ms";
  EXPECT_GT(seen_b, 0) << "the writer never replaced the file before it was killed";
}

// No directory to put the temporary file in: Error naming the path, nothing created.
TEST(CheckpointAtomic, SaveIntoAMissingDirectoryThrowsNamingThePath) {
  TempDir dir("missing");
  const fs::path missing = dir.path() / "no-such-dir";
  EXPECT_THROW_WITH(save_checkpoint(missing / "run.safetensors", make_dict('A', 1024)), Error, missing.string());
  EXPECT_THROW_WITH(save_checkpoint(missing / "run.safetensors", make_dict('A', 1024)), Error,
                    "No such file or directory");
  EXPECT_FALSE(fs::exists(missing));

  // A parent that is a regular file: the same, and the file is untouched.
  const fs::path plain = dir.path() / "plain-file";
  std::ofstream(plain) << "not a directory";
  EXPECT_THROW_WITH(save_checkpoint(plain / "run.safetensors", make_dict('A', 1024)), Error, plain.string());
  EXPECT_TRUE(fs::is_regular_file(plain));
  EXPECT_EQ(fs::file_size(plain), std::string("not a directory").size());
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"plain-file"});
}

// Restores the file-size limit and SIGXFSZ's disposition on every way out.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ok_ = ::getrlimit(RLIMIT_FSIZE, &old_) == 0;
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead
    rlimit lower = old_;
    lower.rlim_cur = bytes;
    ok_ = ok_ && ::setrlimit(RLIMIT_FSIZE, &lower) == 0;
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  bool ok() const noexcept { return ok_; }

 private:
  rlimit old_{};
  sighandler_t old_handler_ = SIG_DFL;
  bool ok_ = false;
};

// A save that fails part way (the write, the rename) leaves the old checkpoint as it was and removes its
// temporary file. (Tests run as root, whom a read-only directory does not stop, so the write is made to
// fail with a file-size limit instead, which binds root too.)
TEST(CheckpointAtomic, FailedSaveLeavesTheOldFileUntouched) {
  TempDir dir("failed");
  const fs::path path = dir.path() / "run.safetensors";
  const StateDict a = make_dict('A', 1 << 16), b = make_dict('B', 1 << 16);
  save_checkpoint(path, a);
  const std::vector<std::byte> before = read_bytes(path);
  ASSERT_TRUE(before == encode_checkpoint(a));

  {
    FileSizeLimit limit(4096);  // B's file is about 300 KB
    ASSERT_TRUE(limit.ok()) << std::strerror(errno);
    EXPECT_THROW_WITH(save_checkpoint(path, b), Error, "cannot write");
  }
  EXPECT_TRUE(read_bytes(path) == before);
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"run.safetensors"});
  EXPECT_TRUE(same(load_checkpoint(path), a));

  // The rename fails: the path is a directory that is not empty. It stays as it was; no temporary file.
  const fs::path occupied = dir.path() / "occupied";
  fs::create_directories(occupied / "inside");
  EXPECT_THROW_WITH(save_checkpoint(occupied, b), Error, "cannot rename the temporary file onto '" + occupied.string());
  EXPECT_TRUE(fs::is_directory(occupied / "inside"));
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"occupied", "run.safetensors"}));

  // The old file still saves over normally afterwards.
  save_checkpoint(path, b);
  EXPECT_TRUE(same(load_checkpoint(path), b));
}

// A dictionary that cannot be encoded throws InvalidArgument before any file is touched: the old file
// keeps its bytes, no temporary file appears, and even a missing directory is not reached.
TEST(CheckpointAtomic, EncodeErrorsThrowBeforeTouchingTheFile) {
  TempDir dir("encode");
  const fs::path path = dir.path() / "run.safetensors";
  const StateDict a = make_dict('A', 1024);
  save_checkpoint(path, a);
  const std::vector<std::byte> before = read_bytes(path);
  const auto modified = fs::last_write_time(path);

  StateDict wrong_size = make_dict('B', 1024);
  wrong_size.tensors["model/weight"].bytes.resize(wrong_size.tensors["model/weight"].bytes.size() - 4);
  EXPECT_THROW_WITH(save_checkpoint(path, wrong_size), InvalidArgument,
                    "tensor 'model/weight' has 4092 bytes, which does not match its shape");
  StateDict wrong_shape = make_dict('B', 1024);
  wrong_shape.tensors["model/weight"].shape = {3, 64};
  EXPECT_THROW_WITH(save_checkpoint(path, wrong_shape), InvalidArgument, "does not match its shape");
  StateDict empty_name = make_dict('B', 1024);
  empty_name.tensors[""] = Tensor::scalar(1.0);
  EXPECT_THROW_WITH(save_checkpoint(path, empty_name), InvalidArgument, "empty name");
  // Not Error for the missing directory: the dictionary is checked first.
  EXPECT_THROW_WITH(save_checkpoint(dir.path() / "no-such-dir" / "run.safetensors", wrong_size), InvalidArgument,
                    "does not match its shape");

  EXPECT_TRUE(read_bytes(path) == before);
  EXPECT_EQ(fs::last_write_time(path), modified);
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"run.safetensors"});
  EXPECT_TRUE(same(load_checkpoint(path), a));
}

}  // namespace
}  // namespace descent
