// Drives gnuplot (Debian's gnuplot-nox) to turn data files into PNG and SVG pictures.
#pragma once

#include <filesystem>
#include <string>

namespace descent::cli {

// Writes a whole file, or throws naming it: a report that silently lacks a file is worse than an error.
void write_text(const std::filesystem::path& file, const std::string& text);

// 17 distinguishable colours for the lines of one plot (one per preset), cycled beyond that.
std::string color(std::size_t index);

// Whether a gnuplot executable is on PATH.
bool gnuplot_available();

// Writes `script` to <dir>/<name>.gp, then, if gnuplot is available, runs it once per terminal so that
// <dir>/<name>.png and <dir>/<name>.svg appear. The script must not set a terminal or output itself.
// Returns false (and keeps the .gp file, so it can be run later) when gnuplot is missing or fails.
bool render(const std::filesystem::path& dir, const std::string& name, const std::string& script, int width = 1000,
            int height = 700);

}  // namespace descent::cli
