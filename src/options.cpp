#include "descent/options.hpp"

#include <cmath>

#include "descent/error.hpp"

namespace descent {

bool OptionInfo::contains(double v) const noexcept {
  if (std::isnan(v)) return false;
  if (type == OptionType::Bool) return v == 0.0 || v == 1.0;
  const bool above_min = min_inclusive ? v >= min : v > min;
  const bool below_max = max_inclusive ? v <= max : v < max;
  return above_min && below_max && (std::isfinite(v) || (v == max && max_inclusive));
}

std::string OptionInfo::range_text() const {
  if (type == OptionType::Bool) return "{false, true}";
  return std::string(min_inclusive ? "[" : "(") + format_number(min) + ", " + format_number(max) +
         (max_inclusive ? "]" : ")");
}

Options::Options(std::string_view optimizer, std::span<const OptionInfo> info) : optimizer_(optimizer), info_(info) {
  if (info.size() > kMaxOptions || info.empty() || info[0].name != "lr") {
    throw Error("internal: the option table of " + std::string(optimizer) + " must start with lr and have at most " +
                std::to_string(kMaxOptions) + " fields");
  }
  for (std::size_t i = 0; i < info.size(); ++i) values_[i] = info[i].default_value;
}

std::size_t Options::index_of(std::string_view name) const {
  for (std::size_t i = 0; i < info_.size(); ++i) {
    if (info_[i].name == name) return i;
  }
  std::string known;
  for (const auto& field : info_) known += (known.empty() ? "" : ", ") + std::string(field.name);
  throw NotFound(std::string(optimizer_) + " has no option '" + std::string(name) + "' (options: " + known + ")");
}

bool Options::has(std::string_view name) const noexcept {
  for (const auto& field : info_) {
    if (field.name == name) return true;
  }
  return false;
}

double Options::get(std::string_view name) const { return values_[index_of(name)]; }

void Options::set(std::string_view name, double value) { assign(index_of(name), value); }

void Options::check(std::size_t field, double v) const {
  const OptionInfo& info = info_[field];
  if (info.contains(v)) return;
  if (info.type == OptionType::Bool) {
    fail("option '" + std::string(info.name) + "' = " + format_number(v) + " is not a boolean (0 or 1)");
  }
  fail("option '" + std::string(info.name) + "' = " + format_number(v) + " is out of range: must be in " +
       info.range_text());
}

void Options::assign(std::size_t field, double v) {
  check(field, v);
  values_[field] = v;
}

void Options::assign_pair(std::size_t first, double first_value, std::size_t second, double second_value) {
  check(first, first_value);
  check(second, second_value);
  values_[first] = first_value;
  values_[second] = second_value;
}

void Options::fail(const std::string& message) const { throw InvalidArgument(std::string(optimizer_) + ": " + message); }

std::string Options::to_string() const {
  std::string out;
  for (std::size_t i = 0; i < info_.size(); ++i) {
    if (i) out += ", ";
    out += std::string(info_[i].name) + "=";
    if (info_[i].type == OptionType::Bool) {
      out += values_[i] != 0.0 ? "true" : "false";
    } else {
      out += format_number(values_[i]);
    }
  }
  return out;
}

namespace {
// A table cell may not contain '|' (it would split the row): |g| is written \|g\|.
std::string escape_cell(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}
}  // namespace

std::string markdown_table(const Options& options) {
  std::string out = "| name | type | default | valid range | meaning |\n|---|---|---|---|---|\n";
  for (const OptionInfo& field : options.info()) {
    const bool is_bool = field.type == OptionType::Bool;
    out += "| `" + std::string(field.name) + "` | " + (is_bool ? "bool" : "double") + " | " +
           (is_bool ? (field.default_value != 0.0 ? "true" : "false") : format_number(field.default_value)) + " | " +
           field.range_text() + " | " + escape_cell(field.meaning) + " |\n";
  }
  return out;
}

}  // namespace descent
