#include "descent/options.hpp"

#include <charconv>
#include <cmath>

#include "checkpoint/json.hpp"
#include "descent/error.hpp"

namespace descent {
namespace {

bool is_integer(double v) noexcept { return std::isfinite(v) && v == std::trunc(v); }

// An Int value or bound written as an integer ("1000000000000000", where format_number writes "1e+15");
// anything else (inf, a value that is no integer) as format_number writes it.
std::string integer_text(double v) {
  return is_integer(v) && std::abs(v) <= kMaxOptionInteger ? std::to_string(static_cast<std::int64_t>(v))
                                                            : format_number(v);
}

std::string choice_list(std::span<const std::string_view> choices) {
  std::string out = "{";
  for (std::size_t i = 0; i < choices.size(); ++i) out.append(i ? ", " : "").append(choices[i]);
  return out + "}";
}

}  // namespace

bool OptionInfo::contains(double v) const noexcept {
  if (std::isnan(v)) return false;
  switch (type) {
    case OptionType::Bool:
      return v == 0.0 || v == 1.0;
    case OptionType::Choice:
      return is_integer(v) && v >= 0.0 && v < static_cast<double>(choices.size());
    case OptionType::Int:
      if (!is_integer(v) || std::abs(v) > kMaxOptionInteger) return false;
      break;
    case OptionType::Real:
      break;
  }
  const bool above_min = min_inclusive ? v >= min : v > min;
  const bool below_max = max_inclusive ? v <= max : v < max;
  return above_min && below_max && (std::isfinite(v) || (v == max && max_inclusive));
}

std::string OptionInfo::range_text() const {
  switch (type) {
    case OptionType::Bool:
      return "{false, true}";
    case OptionType::Choice:
      return choice_list(choices);
    case OptionType::Int:
      return std::string(min_inclusive ? "[" : "(") + integer_text(min) + ", " + integer_text(max) +
             (max_inclusive ? "]" : ")");
    case OptionType::Real:
      break;
  }
  return std::string(min_inclusive ? "[" : "(") + format_number(min) + ", " + format_number(max) +
         (max_inclusive ? "]" : ")");
}

std::string OptionInfo::display_text(double v) const {
  switch (type) {
    case OptionType::Bool:
      return v != 0.0 ? "true" : "false";
    case OptionType::Choice:
      return contains(v) ? std::string(choices[static_cast<std::size_t>(v)]) : format_number(v);
    case OptionType::Int:
      return integer_text(v);
    case OptionType::Real:
      break;
  }
  return format_number(v);
}

std::string_view OptionInfo::type_name() const noexcept {
  switch (type) {
    case OptionType::Bool:
      return "bool";
    case OptionType::Int:
      return "int";
    case OptionType::Choice:
      return "choice";
    case OptionType::Real:
      break;
  }
  return "double";
}

Options::Options(std::string_view optimizer, std::span<const OptionInfo> info) : optimizer_(optimizer), info_(info) {
  const auto internal = [&](const std::string& what) {
    throw Error("internal: the option table of " + std::string(optimizer) + " " + what);
  };
  if (info.empty() || info[0].name != "lr") internal("must start with lr");
  for (std::size_t i = 0; i < info.size(); ++i) {
    const OptionInfo& f = info[i];
    // Built by append: GCC 12 sees a false -Wrestrict in "'" + std::string(...) (its bug 105329).
    std::string name = "'";
    name.append(f.name).append("'");
    for (std::size_t j = 0; j < i; ++j) {
      if (info[j].name == f.name) internal("has two options named " + name);
    }
    if (f.type == OptionType::Choice) {
      if (f.choices.empty()) internal("gives option " + name + " no choices");
      for (std::size_t a = 0; a < f.choices.size(); ++a) {
        for (std::size_t b = 0; b < a; ++b) {
          if (f.choices[a] == f.choices[b]) internal("lists choice '" + std::string(f.choices[a]) + "' of " + name + " twice");
        }
      }
    }
    if (f.type == OptionType::Int) {
      for (const double bound : {f.min, f.max}) {
        if (!std::isinf(bound) && (!is_integer(bound) || std::abs(bound) > kMaxOptionInteger)) {
          internal("gives Int option " + name + " the bound " + format_number(bound) + ", not an integer of magnitude <= 2^53");
        }
      }
      // "[1, inf]" would promise a value no Int option holds.
      if ((std::isinf(f.min) && f.min_inclusive) || (std::isinf(f.max) && f.max_inclusive)) {
        internal("closes Int option " + name + "'s interval at infinity");
      }
    }
    if (!f.contains(f.default_value)) internal("gives option " + name + " a default outside its range");
  }
  values_.reserve(info.size());
  for (const OptionInfo& f : info) values_.push_back(f.default_value);
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

std::size_t Options::choice_field(std::string_view name) const {
  const std::size_t field = index_of(name);
  if (info_[field].type != OptionType::Choice) {
    fail("option '" + std::string(name) + "' is not a choice (its type is " + std::string(info_[field].type_name()) + ")");
  }
  return field;
}

double Options::choice_value(std::size_t field, std::string_view choice) const {
  const OptionInfo& info = info_[field];
  for (std::size_t i = 0; i < info.choices.size(); ++i) {
    if (info.choices[i] == choice) return static_cast<double>(i);
  }
  fail("option '" + std::string(info.name) + "' = '" + std::string(choice) + "' is not one of " + info.range_text());
}

std::string_view Options::choice(std::string_view name) const { return choice_name(choice_field(name)); }

void Options::set_choice(std::string_view name, std::string_view choice) { assign_choice(choice_field(name), choice); }

void Options::assign_choice(std::size_t field, std::string_view choice) { values_[field] = choice_value(field, choice); }

std::string Options::value_text(std::string_view name) const {
  const std::size_t field = index_of(name);
  const OptionInfo& info = info_[field];
  switch (info.type) {
    case OptionType::Int:
      return integer_text(values_[field]);
    case OptionType::Choice:
      return std::string(choice_name(field));
    case OptionType::Real:
    case OptionType::Bool:
      break;
  }
  // Booleans as 0 and 1, as checkpoints of format version 1 hold them.
  return format_number(values_[field]);
}

void Options::set_from_text(std::string_view name, std::string_view text) {
  const std::size_t field = index_of(name);
  const OptionInfo& info = info_[field];
  const std::string quoted = "option '" + std::string(info.name) + "' = '" + std::string(text) + "'";
  switch (info.type) {
    case OptionType::Choice:
      assign_choice(field, text);
      return;
    case OptionType::Int: {
      // Plain digits with an optional minus: "5", not "5.0", "5e0" or "+5", so a saved value reads back exactly.
      std::int64_t v = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
        fail(quoted + " is not an integer: must be an integer in " + info.range_text());
      }
      // Checked before the conversion to double, which would round 2^53 + 1 to an allowed 2^53.
      constexpr auto kMax = static_cast<std::int64_t>(kMaxOptionInteger);
      if (v > kMax || v < -kMax) {
        fail(quoted + " is out of range: must be an integer in " + info.range_text() + " of magnitude at most 2^53");
      }
      assign(field, static_cast<double>(v));
      return;
    }
    case OptionType::Real:
    case OptionType::Bool:
      break;
  }
  double v = 0.0;
  if (!detail::json::to_double(text, v)) fail(quoted + " is not a number");
  assign(field, v);
}

void Options::check(std::size_t field, double v) const {
  const OptionInfo& info = info_[field];
  if (info.contains(v)) return;
  const std::string head = "option '" + std::string(info.name) + "' = " + format_number(v);
  switch (info.type) {
    case OptionType::Bool:
      fail(head + " is not a boolean (0 or 1)");
    case OptionType::Choice:
      fail(head + " is not the index of a choice: must be 0 to " + std::to_string(info.choices.size() - 1) +
           ", one of " + info.range_text());
    case OptionType::Int:
      if (!is_integer(v)) fail(head + " is not an integer: must be an integer in " + info.range_text());
      fail(head + " is out of range: must be an integer in " + info.range_text() +
           (std::abs(v) > kMaxOptionInteger ? " of magnitude at most 2^53" : ""));
    case OptionType::Real:
      break;
  }
  fail(head + " is out of range: must be in " + info.range_text());
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
    out += std::string(info_[i].name) + "=" + info_[i].display_text(values_[i]);
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
    out += "| `" + std::string(field.name) + "` | " + std::string(field.type_name()) + " | " +
           field.display_text(field.default_value) + " | " + escape_cell(field.range_text()) + " | " +
           escape_cell(field.meaning) + " |\n";
  }
  return out;
}

}  // namespace descent
