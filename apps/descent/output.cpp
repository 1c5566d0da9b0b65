#include "output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <vector>

#include "descent/error.hpp"

namespace descent::cli {
namespace {

[[noreturn]] void fail(std::string_view option, const std::filesystem::path& path, const std::string& why) {
  throw InvalidArgument(std::string(option) + " '" + path.string() + "': " + why);
}

void probe_folder(const std::filesystem::path& dir, std::string_view option, const std::filesystem::path& named) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) fail(option, named, "cannot create the folder '" + dir.string() + "': " + error.message());
  if (!std::filesystem::is_directory(dir, error)) fail(option, named, "'" + dir.string() + "' is not a folder");
  // mkstemp creates a file of a fresh name, so the probe can neither meet nor replace a user's file.
  const std::string pattern = (dir / ".descent-probe-XXXXXX").string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = mkstemp(name.data());
  if (fd < 0) fail(option, named, "cannot write in the folder '" + dir.string() + "': " + std::strerror(errno));
  close(fd);
  unlink(name.data());
}

}  // namespace

void prepare_output_folder(const std::filesystem::path& dir, std::string_view option) {
  probe_folder(dir, option, dir);
}

void prepare_checkpoint_file(const std::filesystem::path& file, std::string_view option) {
  std::error_code error;
  const auto status = std::filesystem::status(file, error);  // follows a link: saves write through it
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status)) {
    fail(option, file, "exists and is not a file");
  }
  const auto folder_of = [](const std::filesystem::path& f) {
    return f.has_parent_path() ? f.parent_path() : std::filesystem::path(".");
  };
  probe_folder(folder_of(file), option, file);
  // Through a link, the save lands in the target's folder.
  if (std::filesystem::is_symlink(std::filesystem::symlink_status(file, error))) {
    const std::filesystem::path target = std::filesystem::canonical(file, error);
    if (!error && folder_of(target) != folder_of(file)) probe_folder(folder_of(target), option, file);
  }
}

std::string json_text(const nlohmann::ordered_json& value) {
  return value.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace descent::cli
