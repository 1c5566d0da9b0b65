// Swapping an average of the weights into the parameters for evaluation: the one mechanism behind EMA's
// use_average() (its slot "ema") and Schedule-Free's eval mode (its slot "x"). The swap exchanges bytes,
// so swapping back restores the trained values bit for bit, and a checkpoint records which values are in
// the parameters, so that one saved in either mode resumes bitwise.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>

#include "descent/checkpoint.hpp"
#include "descent/dtype.hpp"
#include "descent/error.hpp"

namespace descent::detail {

class AverageSwap {
 public:
  // `who` starts every message ("EMA", "SGDScheduleFree"); `average` names what is swapped in ("the
  // averages"); `metadata_key` holds the mode in checkpoints.
  AverageSwap(std::string_view who, std::string_view average, std::string_view metadata_key)
      : who_(who), average_(average), key_(metadata_key) {}

  bool on() const noexcept { return on_; }

  // Swaps, for each record (a span of them) whose average exists (slot_of returns its memory, or null), the average
  // and the parameter's values. Does nothing when already in that mode.
  template <class Records, class SlotOf>
  void set(bool on, Records records, const SlotOf& slot_of) {
    if (on == on_) return;
    for (auto& r : records) {
      void* average = slot_of(r);
      if (!average) continue;
      auto* values = static_cast<std::byte*>(r.param.value_data());
      std::swap_ranges(values, values + r.param.size() * size_of(r.param.dtype()), static_cast<std::byte*>(average));
    }
    on_ = on;
  }

  // step() and load_state_dict() refuse while the averages are in: a step would train the averages, a
  // load would lose the trained values.
  void check_step() const {
    if (on_) {
      throw InvalidArgument(std::string(who_) + ": step() while " + std::string(average_) +
                            " are in the parameters (call use_average(false) first); nothing was changed");
    }
  }

  // The mode, in state_dict(). While the averages are in, the slot holds the trained values: without the
  // parameters' values the dictionary could not be told apart from a trained one.
  void save(StateDict& dict) const {
    const bool with_parameters = std::any_of(dict.tensors.begin(), dict.tensors.end(),
                                             [](const auto& entry) { return entry.first.starts_with("param/"); });
    if (on_ && !with_parameters) {
      throw InvalidArgument(std::string(who_) + ": state_dict() without the parameters' values while " +
                            std::string(average_) +
                            " are in the parameters (call state_dict(true), or use_average(false) first)");
    }
    dict.metadata[std::string(key_)] = on_ ? "true" : "false";
  }

  // The mode a dictionary holds, checked (InvalidArgument naming the value); the caller commits it with
  // commit() once every other check passed.
  bool load(const StateDict& dict) const {
    if (on_) {
      throw InvalidArgument(std::string(who_) + ": load_state_dict() while " + std::string(average_) +
                            " are in the parameters (call use_average(false) first, so that the trained values "
                            "are not lost)");
    }
    const auto in = dict.metadata.find(std::string(key_));
    if (in == dict.metadata.end()) {
      throw InvalidArgument(std::string(who_) + ": the dictionary lacks metadata '" + std::string(key_) + "'");
    }
    if (in->second != "true" && in->second != "false") {
      throw InvalidArgument(std::string(who_) + ": metadata '" + std::string(key_) + "' = '" +
                            in->second.substr(0, 100) + "' is not true or false");
    }
    return in->second == "true";
  }
  void commit(bool on) noexcept { on_ = on; }

 private:
  std::string_view who_, average_, key_;
  bool on_ = false;
};

}  // namespace descent::detail
