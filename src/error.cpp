#include "descent/error.hpp"

#include <charconv>
#include <cmath>

namespace descent {

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // The fewest significant digits (in %g style: 0.0003, 1e-08) that read back as the same double.
  char buffer[40];
  for (int precision = 1;; ++precision) {
    const auto written = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, precision);
    double back = 0.0;
    std::from_chars(buffer, written.ptr, back);
    if (back == value || precision == 17) return std::string(buffer, written.ptr);
  }
}

}  // namespace descent
