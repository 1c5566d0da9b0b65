// Where the command line writes: its folders and checkpoint files checked before any work (a run whose
// results cannot be saved should fail at once, not after hours), and its one JSON writer.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace descent::cli {

// Creates `dir` (and its parents) and proves that a file can be created in it, leaving no file behind.
// Throws InvalidArgument naming `option`, the folder and the reason.
void prepare_output_folder(const std::filesystem::path& dir, std::string_view option);

// The same for the folder a checkpoint is saved in (saves write a file beside it, then rename it); also
// refuses a `file` that exists and is not a regular file (or a link to one).
void prepare_checkpoint_file(const std::filesystem::path& file, std::string_view option);

// Every JSON file the command line writes goes through this: nlohmann::json's writer, indented by 2, with
// NaN and infinities written as null (JSON has no such numbers) and bytes that are not UTF-8 (a folder's
// name may hold any) replaced by U+FFFD.
std::string json_text(const nlohmann::ordered_json& value);

}  // namespace descent::cli
