// Drives gnuplot (Debian's gnuplot-nox) to turn data files into PNG and SVG pictures.
#pragma once

#include <filesystem>
#include <string>

namespace descent::cli {

// Whether a gnuplot executable is on PATH.
bool gnuplot_available();

// Writes `script` to <dir>/<name>.gp, then, if gnuplot is available, runs it once per terminal so that
// <dir>/<name>.png and <dir>/<name>.svg appear. The script must not set a terminal or output itself.
// Returns false (and keeps the .gp file, so it can be run later) when gnuplot is missing or fails.
bool render(const std::filesystem::path& dir, const std::string& name, const std::string& script, int width = 1000,
            int height = 700);

}  // namespace descent::cli
