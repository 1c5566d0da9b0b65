#include "descent/error.hpp"

#include <charconv>
#include <cmath>

namespace descent {

std::string excerpt(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  // Back up over continuation bytes (10xxxxxx) so that a character of up to 4 bytes is not split.
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80; ++i) --cut;
  return std::string(text.substr(0, cut)) + "... (" + std::to_string(text.size()) + " bytes)";
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  // The shortest digits that read back as the same double: fixed notation for magnitudes from 1e-4 to
  // 1e15 (0.0003, 10, 250000), scientific outside (1e-08, 1e+20).
  char buffer[400];
  const double magnitude = std::abs(value);
  const auto format = value != 0.0 && (magnitude < 1e-4 || magnitude >= 1e15) ? std::chars_format::scientific
                                                                               : std::chars_format::fixed;
  const auto written = std::to_chars(buffer, buffer + sizeof buffer, value, format);
  return std::string(buffer, written.ptr);
}

}  // namespace descent
