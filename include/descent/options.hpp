// Optimizer options: values with named, chained setters, validated whenever they change.
//
// Every optimizer's options class (AdamOptions, SGDOptions, ...) derives from Options and describes
// its fields in one table (name, type, default, valid range, meaning). That table drives range
// checks, get/set by name (schedules, the CLI, checkpoints) and the documentation, so an option's
// range is written exactly once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace descent {

// Real: a double in an interval. Bool: 0 or 1. Int: an integer in an interval (e.g. a number of
// iterations). Choice: one of a fixed list of names (e.g. a mode), held as its index in the list.
enum class OptionType : unsigned char { Real, Bool, Int, Choice };

// One option's description. Ranges are intervals; `max` may be +infinity, and only a Real option
// whose interval is closed at +infinity accepts an infinite value. An Int option holds integers of
// magnitude at most kMaxOptionInteger (2^53: every such integer is exact in a double), whatever its
// interval. A Choice option's `choices` are its names; its value is an index into them, and its
// interval is [0, choices.size() - 1].
struct OptionInfo {
  std::string_view name;
  OptionType type;
  double default_value;
  double min;
  double max;
  bool min_inclusive;
  bool max_inclusive;
  std::string_view meaning;
  std::span<const std::string_view> choices = {};  // Choice only

  bool contains(double value) const noexcept;
  std::string range_text() const;  // "[0, 1)", "[0, inf)", "{false, true}", "[1, 100]", "{original, fast}"
  // A value as the docs, the CLI and to_string() show it: "0.001", "true", "5", "original".
  std::string display_text(double value) const;
  // The type's name in the docs and the CLI: "double", "bool", "int", "choice".
  std::string_view type_name() const noexcept;
};

// The largest integer an Int option may hold: 2^53, the last one of a run of integers a double holds exactly.
inline constexpr double kMaxOptionInteger = 9007199254740992.0;

class Options {
 public:
  virtual ~Options() = default;

  std::string_view optimizer() const noexcept { return optimizer_; }
  std::span<const OptionInfo> info() const noexcept { return info_; }

  // Access by name; booleans read as 0 or 1, integers as their value, choices as their index.
  // Unknown names throw NotFound.
  bool has(std::string_view name) const noexcept;
  double get(std::string_view name) const;
  // Validates the value against the option's range; throws InvalidArgument and keeps the old value.
  void set(std::string_view name, double value);

  // A Choice option's current name; throws InvalidArgument for an option of another type.
  std::string_view choice(std::string_view name) const;
  // Sets a Choice option by name; throws InvalidArgument listing the choices for an unknown name, or
  // for an option of another type.
  void set_choice(std::string_view name, std::string_view choice);

  // The value as text, exactly, in the form checkpoints store: a Real or Bool as the shortest number
  // that reads back the same ("0.001", "1e-08", "inf", "0", "1"), an Int as a plain integer ("5"), a
  // Choice as its name ("original").
  std::string value_text(std::string_view name) const;
  // The inverse of value_text(): a Real or Bool from a number, an Int from a plain integer only (no
  // fraction or exponent), a Choice from one of its names. Throws InvalidArgument naming the text and
  // what was expected, keeping the old value.
  void set_from_text(std::string_view name, std::string_view text);

  // Every optimizer has a learning rate, and it is always field 0.
  double lr() const noexcept { return values_[0]; }
  void set_lr(double value) { assign(0, value); }

  // Checks rules that tie options together (e.g. Nesterov needs momentum). Ranges of single options
  // are checked by their setters. Called when a group is added and at the start of every step().
  virtual void validate() const {}

  virtual std::unique_ptr<Options> clone() const = 0;

  // "lr=0.001, beta1=0.9, ..." in table order; booleans as true/false, choices by name.
  std::string to_string() const;

 protected:
  // Checks the table (starts with lr, unique names, valid defaults and choice lists) and sets the defaults.
  Options(std::string_view optimizer, std::span<const OptionInfo> info);
  Options(const Options&) = default;
  Options& operator=(const Options&) = default;

  double value(std::size_t field) const noexcept { return values_[field]; }
  bool flag(std::size_t field) const noexcept { return values_[field] != 0.0; }
  // An Int field (exact: its range was checked when it was set).
  std::int64_t integer(std::size_t field) const noexcept { return static_cast<std::int64_t>(values_[field]); }
  // A Choice field's index into its choices, and its name.
  std::size_t choice_index(std::size_t field) const noexcept { return static_cast<std::size_t>(values_[field]); }
  std::string_view choice_name(std::size_t field) const noexcept { return info_[field].choices[choice_index(field)]; }
  void assign(std::size_t field, double value);
  void assign_choice(std::size_t field, std::string_view choice);
  // Checks both values before changing either (betas), so a bad second value leaves the first alone.
  void assign_pair(std::size_t first, double first_value, std::size_t second, double second_value);
  // Throws InvalidArgument naming the option, the value and its range, unless the value is allowed.
  void check(std::size_t field, double value) const;
  // Throws InvalidArgument prefixed with the optimizer's name.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::size_t index_of(std::string_view name) const;
  std::size_t choice_field(std::string_view name) const;  // index_of, and throws unless a Choice
  double choice_value(std::size_t field, std::string_view choice) const;

  std::string_view optimizer_;
  std::span<const OptionInfo> info_;
  std::vector<double> values_;  // one per row of info_
};

// The options as a Markdown table: name | type | default | valid range | meaning. docs/optimizers.md
// holds these tables verbatim, and a test checks that they match the code.
std::string markdown_table(const Options& options);

}  // namespace descent
