// A test-only optimizer whose options hold one field of every option type (Real, Bool, Int, Choice),
// so that the tests can check validation, get/set by name, the docs table and a checkpoint round trip
// of Int and Choice options before any real optimizer has one.
//
// Its rule, chosen so that a test can predict the result by hand:
//   d = g            (mode "plain")     or  sign(g)  (mode "sign");  -d when maximizing
//   w = w - lr * d,  applied `repeats` times
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "descent/optimizer.hpp"
#include "optimizers/common.hpp"

namespace descent::test_support {

inline constexpr std::array<std::string_view, 2> kToyModes{"plain", "sign"};

inline constexpr std::array<OptionInfo, 5> kToyFields{{
    detail::lr_option(0.1),
    detail::int_option("repeats", 1, 1.0, 8.0, true, true, "times the step is applied"),
    // Not used by the rule: an open interval with no upper bound, for the validation tests.
    detail::int_option("period", 10, 0.0, detail::kInf, false, false, "test only: an integer in (0, inf)"),
    detail::choice_option("mode", "plain", kToyModes, "plain: step along the gradient; sign: along its sign"),
    detail::maximize_option(),
}};

class ToyOptions final : public Options {
 public:
  enum Field : std::size_t { kLr, kRepeats, kPeriod, kMode, kMaximize, kCount };
  static_assert(kCount == kToyFields.size());

  explicit ToyOptions(double lr = 0.1) : Options("Toy", kToyFields) { this->lr(lr); }

  double lr() const noexcept { return value(kLr); }
  ToyOptions& lr(double v) { assign(kLr, v); return *this; }
  std::int64_t repeats() const noexcept { return integer(kRepeats); }
  ToyOptions& repeats(std::int64_t v) { assign(kRepeats, static_cast<double>(v)); return *this; }
  std::int64_t period() const noexcept { return integer(kPeriod); }
  ToyOptions& period(std::int64_t v) { assign(kPeriod, static_cast<double>(v)); return *this; }
  std::string_view mode() const noexcept { return choice_name(kMode); }
  ToyOptions& mode(std::string_view v) { assign_choice(kMode, v); return *this; }
  bool maximize() const noexcept { return flag(kMaximize); }
  ToyOptions& maximize(bool v) { assign(kMaximize, v); return *this; }

  std::unique_ptr<Options> clone() const override { return std::make_unique<ToyOptions>(*this); }
};

class Toy final : public OptimizerWith<ToyOptions> {
 public:
  explicit Toy(std::vector<Parameter> params, const ToyOptions& defaults = ToyOptions())
      : OptimizerWith(std::span<const SlotSpec>{}, {}, std::move(params), defaults) {}

 private:
  std::uint32_t slots_needed(const Options&) const override { return 0; }

  void plan(const Options& options, std::span<Record* const> records, std::vector<Task>& tasks) override {
    const auto& o = static_cast<const ToyOptions&>(options);
    const bool sign = o.mode() == "sign";
    const std::int64_t repeats = o.repeats();
    for (Record* r : records) {
      visit_dtype(r->param.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = r->param.value<T>().data();
        const T* g = r->param.grad<T>().data();
        const T lr = static_cast<T>(o.lr());
        const bool maximize = o.maximize();
        tasks.push_back({[=](std::size_t begin, std::size_t end) {
                           for (std::size_t i = begin; i < end; ++i) {
                             T d = maximize ? -g[i] : g[i];
                             if (sign) d = static_cast<T>((d > T(0)) - (d < T(0)));
                             for (std::int64_t k = 0; k < repeats; ++k) p[i] -= lr * d;
                           }
                         },
                         r->param.size()});
      });
    }
  }
};

}  // namespace descent::test_support
