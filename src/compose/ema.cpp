// EMA: an exponential moving average of the weights around any base optimizer.
#include <algorithm>
#include <array>
#include <charconv>
#include <string>

#include "descent/compose.hpp"
#include "descent/error.hpp"

namespace descent {
namespace {

constexpr std::array<SlotSpec, 1> kSlots{{{"ema", 0.0}}};

void check_decay(double decay) {
  if (!(decay >= 0.0 && decay < 1.0)) {
    throw InvalidArgument("EMA: decay = " + format_number(decay) + " is out of range: must be in [0, 1)");
  }
}

std::vector<std::unique_ptr<Optimizer>> one(std::unique_ptr<Optimizer> base, double decay) {
  check_decay(decay);  // before the base is taken over
  if (!base) throw InvalidArgument("EMA: no base optimizer given");
  std::vector<std::unique_ptr<Optimizer>> parts;
  parts.push_back(std::move(base));
  return parts;
}

}  // namespace

EMA::EMA(std::unique_ptr<Optimizer> base, double decay) : Optimizer("EMA", one(std::move(base), decay), kSlots), decay_(decay) {}

void EMA::set_decay(double decay) {
  const auto use = exclusive_use("set_decay()");
  check_decay(decay);
  decay_ = decay;
}

void EMA::plan(const Options&, std::span<Record* const>, std::vector<Task>&) {
  throw Error("internal: an EMA's groups are planned by its base optimizer");
}

std::uint32_t EMA::slots_needed(const Options&) const { return 0; }

void EMA::check_step() const { swap_.check_step(); }

void EMA::after_step(std::span<Record* const> records) {
  std::vector<Task> tasks;
  for (Record* r : records) {
    const std::size_t slot_index = wrapper_slot_base(*r);
    visit_dtype(r->param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      bool created = false;
      T* average = slot<T>(*r, slot_index, &created);
      T* param = r->param.template value<T>().data();
      const T take = static_cast<T>(1.0 - decay_);
      tasks.push_back({[=](std::size_t begin, std::size_t end) {
                         if (created) {
                           std::copy(param + begin, param + end, average + begin);
                           return;
                         }
                         // average + (1 - decay) * (param - average), one rounding per operation.
                         for (std::size_t i = begin; i < end; ++i) average[i] = average[i] + take * (param[i] - average[i]);
                       },
                       r->param.size()});
    });
  }
  run_tasks(tasks);
}

void EMA::use_average(bool on) {
  const auto use = exclusive_use("use_average()");
  swap_.set(on, records(), [this](Record& r) -> void* {
    const std::size_t slot_index = wrapper_slot_base(r);
    if (!r.slots[slot_index].ready) return nullptr;  // not stepped yet: no average
    void* average = nullptr;
    visit_dtype(r.param.dtype(), [&](auto tag) { average = slot<decltype(tag)>(r, slot_index); });
    return average;
  });
}

void EMA::save_extra(StateDict& dict) const {
  swap_.save(dict);
  dict.metadata["ema_decay"] = format_number(decay_);
}

std::function<void()> EMA::load_extra(const StateDict& dict) {
  const bool swapped = swap_.load(dict);
  const auto decay = dict.metadata.find("ema_decay");
  if (decay == dict.metadata.end()) throw InvalidArgument("EMA: the dictionary lacks metadata 'ema_decay'");
  double value = 0.0;
  const auto [ptr, ec] = std::from_chars(decay->second.data(), decay->second.data() + decay->second.size(), value);
  if (ec != std::errc() || ptr != decay->second.data() + decay->second.size() || !(value >= 0.0 && value < 1.0)) {
    throw InvalidArgument("EMA: metadata 'ema_decay' = '" + decay->second.substr(0, 100) + "' is not a decay in [0, 1)");
  }
  return [this, value, swapped] {
    decay_ = value;
    swap_.commit(swapped);
  };
}

}  // namespace descent
