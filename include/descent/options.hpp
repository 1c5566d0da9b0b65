// Optimizer options: values with named, chained setters, validated whenever they change.
//
// Every optimizer's options class (AdamOptions, SGDOptions, ...) derives from Options and describes
// its fields in one table (name, type, default, valid range, meaning). That table drives range
// checks, get/set by name (schedules, the CLI, checkpoints) and the documentation, so an option's
// range is written exactly once.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace descent {

enum class OptionType : unsigned char { Real, Bool };

// One option's description. Ranges are intervals; `max` may be +infinity, and only an option
// whose interval is closed at +infinity accepts an infinite value.
struct OptionInfo {
  std::string_view name;
  OptionType type;
  double default_value;
  double min;
  double max;
  bool min_inclusive;
  bool max_inclusive;
  std::string_view meaning;

  bool contains(double value) const noexcept;
  std::string range_text() const;  // "[0, 1)", "[0, inf)", "{false, true}"
};

class Options {
 public:
  virtual ~Options() = default;

  std::string_view optimizer() const noexcept { return optimizer_; }
  std::span<const OptionInfo> info() const noexcept { return info_; }

  // Access by name; booleans read as 0 or 1. Unknown names throw NotFound.
  bool has(std::string_view name) const noexcept;
  double get(std::string_view name) const;
  // Validates the value against the option's range; throws InvalidArgument and keeps the old value.
  void set(std::string_view name, double value);

  // Every optimizer has a learning rate, and it is always field 0.
  double lr() const noexcept { return values_[0]; }
  void set_lr(double value) { assign(0, value); }

  // Checks rules that tie options together (e.g. Nesterov needs momentum). Ranges of single options
  // are checked by their setters. Called when a group is added and at the start of every step().
  virtual void validate() const {}

  virtual std::unique_ptr<Options> clone() const = 0;

  // "lr=0.001, beta1=0.9, ..." in table order.
  std::string to_string() const;

 protected:
  static constexpr std::size_t kMaxOptions = 16;

  Options(std::string_view optimizer, std::span<const OptionInfo> info);
  Options(const Options&) = default;
  Options& operator=(const Options&) = default;

  double value(std::size_t field) const noexcept { return values_[field]; }
  bool flag(std::size_t field) const noexcept { return values_[field] != 0.0; }
  void assign(std::size_t field, double value);
  // Checks both values before changing either (betas), so a bad second value leaves the first alone.
  void assign_pair(std::size_t first, double first_value, std::size_t second, double second_value);
  // Throws InvalidArgument naming the option, the value and its range, unless the value is allowed.
  void check(std::size_t field, double value) const;
  // Throws InvalidArgument prefixed with the optimizer's name.
  [[noreturn]] void fail(const std::string& message) const;

 private:
  std::size_t index_of(std::string_view name) const;

  std::string_view optimizer_;
  std::span<const OptionInfo> info_;
  std::array<double, kMaxOptions> values_{};
};

// The options as a Markdown table: name | type | default | valid range | meaning. docs/optimizers.md
// holds these tables verbatim, and a test checks that they match the code.
std::string markdown_table(const Options& options);

}  // namespace descent
