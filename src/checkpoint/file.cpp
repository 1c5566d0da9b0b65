// Checkpoint files on disk: atomic replacement on save, whole-file checked reads on load.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

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

}  // namespace

void save_checkpoint(const std::filesystem::path& path, const StateDict& dict) {
  const std::vector<std::byte> bytes = encode_checkpoint(dict);  // throws before any file is touched
  if (path.filename().empty()) throw InvalidArgument("checkpoint: '" + path.string() + "' names no file");
  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // Unique within the process (the counter) and across processes (the pid).
  static std::atomic<unsigned> counter{0};
  std::string temp_name = ".";  // appended piece by piece: GCC 12 warns wrongly (-Wrestrict) on "." + string
  temp_name.append(path.filename().string()).append(".tmp-").append(std::to_string(::getpid()));
  temp_name.append("-").append(std::to_string(counter++));
  const std::filesystem::path temp = dir / temp_name;
  TempFile file(temp);
  write_all(file, bytes.data(), bytes.size());
  if (::fsync(file.fd()) != 0) system_error("flush", temp, errno);
  file.close();
  if (::rename(temp.c_str(), path.c_str()) != 0) system_error("rename the temporary file onto", path, errno);
  file.keep();  // it is `path` now
  // The rename is durable once the directory is flushed.
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) system_error("open the directory", dir, errno);
  const int synced = ::fsync(dir_fd);
  const int error = errno;
  ::close(dir_fd);
  if (synced != 0 && error != EINVAL) system_error("flush the directory", dir, error);  // EINVAL: fs without dir sync
}

StateDict load_checkpoint(const std::filesystem::path& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below as not a regular file);
  // for a regular file the flag changes nothing.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) throw NotFound("checkpoint: no file '" + path.string() + "'");
    system_error("open", path, errno);
  }
  std::vector<std::byte> bytes;
  try {
    struct stat st {};
    if (::fstat(fd, &st) != 0) system_error("read the size of", path, errno);
    if (!S_ISREG(st.st_mode)) throw InvalidArgument("checkpoint: '" + path.string() + "' is not a regular file");
    bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) system_error("read", path, errno);
      if (n == 0) throw Error("checkpoint: '" + path.string() + "' shrank while it was read");
      done += static_cast<std::size_t>(n);
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return decode_checkpoint(bytes, path.string());
}

}  // namespace descent
