// Checkpoint files on disk: atomic replacement on save (through symbolic links), checked reads on load.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include "checkpoint/layout.hpp"
#include "descent/checkpoint.hpp"
#include "descent/error.hpp"

namespace descent {
namespace {

[[noreturn]] void system_error(const std::string& what, const std::filesystem::path& path, int error) {
  throw Error("checkpoint: cannot " + what + " '" + path.string() + "': " + std::strerror(error));
}

// Closes a descriptor on every path out, and unlinks the temporary file unless released.
class TempFile {
 public:
  explicit TempFile(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) system_error("create the temporary file", path_, errno);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!kept_) ::unlink(path_.c_str());
  }
  int fd() const noexcept { return fd_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  void close() {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) system_error("close", path_, errno);
  }
  void keep() noexcept { kept_ = true; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool kept_ = false;
};

void write_all(const TempFile& file, const std::byte* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(file.fd(), data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      system_error("write", file.path(), errno);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// The file a save replaces: `path`, or the file a symbolic link at `path` points to (followed through
// chains of links), so that saving through a link updates its target and keeps the link, as writing to
// it would. A dangling link names the file to create.
std::filesystem::path write_target(const std::filesystem::path& path) {
  std::filesystem::path target = path;
  for (int hops = 0;; ++hops) {
    std::error_code error;
    const auto status = std::filesystem::symlink_status(target, error);
    if (error || !std::filesystem::is_symlink(status)) return target;
    if (hops == 40) system_error("follow the symbolic links of", path, ELOOP);  // the kernel's own limit
    const std::filesystem::path link = std::filesystem::read_symlink(target, error);
    if (error) system_error("read the symbolic link", target, error.value());
    target = link.is_absolute() ? link : target.parent_path() / link;
  }
}

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const StateDict& dict) {
  std::vector<std::byte> bytes;
  try {
    bytes = encode_checkpoint(dict);  // throws before any file is touched
  } catch (const InvalidArgument& e) {
    std::string_view why = e.what();
    if (why.starts_with("checkpoint: ")) why.remove_prefix(12);
    throw InvalidArgument("checkpoint: cannot save '" + path.string() + "': " + std::string(why));
  } catch (const std::bad_alloc&) {
    throw Error("checkpoint: cannot save '" + path.string() + "': out of memory while encoding it");
  }
  if (path.filename().empty()) throw InvalidArgument("checkpoint: '" + path.string() + "' names no file");
  const std::filesystem::path target = write_target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  // Unique within the process (the counter) and across processes (the pid).
  static std::atomic<unsigned> counter{0};
  std::string temp_name = ".";  // appended piece by piece: GCC 12 warns wrongly (-Wrestrict) on "." + string
  temp_name.append(target.filename().string()).append(".tmp-").append(std::to_string(::getpid()));
  temp_name.append("-").append(std::to_string(counter++));
  const std::filesystem::path temp = dir / temp_name;
  TempFile file(temp);
  write_all(file, bytes.data(), bytes.size());
  if (::fsync(file.fd()) != 0) system_error("flush", temp, errno);
  file.close();
  if (::rename(temp.c_str(), target.c_str()) != 0) system_error("rename the temporary file onto", target, errno);
  file.keep();  // it is `target` now
  // The rename is durable once the directory is flushed.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) system_error("open the directory", dir, errno);
  const int synced = ::fsync(dir_fd);
  const int error = errno;
  ::close(dir_fd);
  if (synced != 0 && error != EINVAL) system_error("flush the directory", dir, error);  // EINVAL: fs without dir sync
}

namespace {

// Closes a descriptor on every path out.
class ReadFile {
 public:
  explicit ReadFile(int fd) noexcept : fd_(fd) {}
  ReadFile(const ReadFile&) = delete;
  ReadFile& operator=(const ReadFile&) = delete;
  ~ReadFile() { ::close(fd_); }

  // Reads exactly n bytes or throws Error naming `path`.
  void read(std::byte* out, std::size_t n, const std::filesystem::path& path) const {
    while (n > 0) {
      const ssize_t got = ::read(fd_, out, n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) system_error("read", path, errno);
      if (got == 0) throw Error("checkpoint: '" + path.string() + "' shrank while it was read");
      out += got;
      n -= static_cast<std::size_t>(got);
    }
  }

  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

StateDict read_checkpoint(const std::filesystem::path& path, const ReadFile& file) {
  const std::string where = path.string();
  struct stat st {};
  if (::fstat(file.fd(), &st) != 0) system_error("read the size of", path, errno);
  if (!S_ISREG(st.st_mode)) throw InvalidArgument("checkpoint: '" + where + "' is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < 8) {
    throw InvalidArgument(where + ": truncated: " + std::to_string(size) +
                          " bytes, fewer than the 8 of the header length");
  }
  // The length first, then the header it gives, checked whole before any of the data is read: a file
  // that is not a checkpoint costs at most its header (100 MB at most), never its size.
  std::array<std::byte, 8> first8{};
  file.read(first8.data(), first8.size(), path);
  const std::uint64_t header_size = detail::header_length(first8, size - 8, where);
  std::string header(header_size, '\0');
  file.read(reinterpret_cast<std::byte*>(header.data()), header.size(), path);
  detail::CheckpointHeader parsed = detail::parse_header(header, size - 8 - header_size, where);
  // The data, straight into the tensors (the extents tile it in order).
  std::uint32_t crc = parsed.header_crc;
  for (const auto& e : parsed.extents) {
    std::vector<std::byte>& bytes = e.tensor->bytes;
    bytes.resize(e.end - e.begin);
    file.read(bytes.data(), bytes.size(), path);
    crc = detail::crc32_update(crc, bytes.data(), bytes.size());
  }
  detail::check_crc(parsed, crc, where);
  return std::move(parsed.dict);
}

}  // namespace

StateDict load_checkpoint(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below as not a regular file);
  // for a regular file the flag changes nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) throw NotFound("checkpoint: no file '" + path.string() + "'");
    system_error("open", path, errno);
  }
  const ReadFile file(fd);
  try {
    return read_checkpoint(path, file);
  } catch (const std::bad_alloc&) {
    throw Error("checkpoint: out of memory while loading '" + path.string() + "'");
  }
}

}  // namespace descent
