// Optimizer::state_dict() and load_state_dict(): the optimizer's state keyed by parameter name.
#include <algorithm>
#include <charconv>
#include <iterator>
#include <cmath>
#include <cstring>
#include <set>

#include "checkpoint/json.hpp"
#include "descent/bf16_params.hpp"
#include "descent/optimizer.hpp"
#include "lowbit/quantize.hpp"

namespace descent {
namespace {

namespace json = detail::json;

constexpr std::string_view kParamPrefix = "param/";
constexpr std::string_view kStatePrefix = "state/";
constexpr std::string_view kStepSlot = "step";
// Counts beyond this are refused: update rules read the step as a double (exact up to 2^53), and a count
// near 2^63 would overflow at the next step.
constexpr std::int64_t kMaxCount = kMaxStepCount;

// Options added after checkpoint format version 1 that change nothing at their default: saved only when
// set to something else, and a saved group without them means their default. So a checkpoint of an
// optimizer that does not use them is what 0.1.0 wrote, and 0.1.0's checkpoints load strictly.
constexpr std::string_view kLaterOptions[] = {"state_dtype", "stochastic_rounding", "bf16_params"};
bool is_later_option(std::string_view name) {
  return std::find(std::begin(kLaterOptions), std::end(kLaterOptions), name) != std::end(kLaterOptions);
}
// state_dtype lays out the state when a group is added (src/lowbit/state.hpp): a load keeps the group's
// and converts the tensors of another state_dtype into it (convert_slot below).
constexpr std::string_view kLayoutOption = "state_dtype";
constexpr std::string_view kAbsmaxSuffix = "_absmax";
constexpr std::string_view kBF16ParamsOption = "bf16_params";

// A state tensor of one encoding (F32, BF16, or U8 codes with their F32 "<slot>_absmax" block scales)
// read as float32 values, and written in another, for loading a checkpoint of another state_dtype.
bool convertible(TensorType type) { return type == TensorType::F32 || type == TensorType::BF16 || type == TensorType::U8; }

std::vector<float> decode_state(const Tensor& t, const Tensor* absmax, bool is_signed, std::size_t n) {
  std::vector<float> values(n);
  if (t.type == TensorType::F32) {
    if (n) std::memcpy(values.data(), t.bytes.data(), n * 4);
  } else if (t.type == TensorType::BF16) {
    for (std::size_t i = 0; i < n; ++i) {
      std::uint16_t bits;
      std::memcpy(&bits, t.bytes.data() + 2 * i, 2);
      values[i] = lowbit::reference::from_bfloat16(bits);
    }
  } else {
    lowbit::reference::dequantize_blockwise(reinterpret_cast<const std::uint8_t*>(t.bytes.data()),
                                            reinterpret_cast<const float*>(absmax->bytes.data()), n, is_signed, values.data());
  }
  return values;
}

std::vector<std::int64_t> shape_of(const Parameter& p) {
  return p.shape().empty() ? std::vector<std::int64_t>{static_cast<std::int64_t>(p.size())} : p.shape();
}

Tensor raw_tensor(DType dtype, const void* data, std::size_t size, std::vector<std::int64_t> shape) {
  return visit_any_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    return Tensor::of<T>(std::span<const T>(static_cast<const T*>(data), size), std::move(shape));
  });
}

// One group of the "groups" metadata.
struct SavedGroup {
  std::vector<std::string> params;
  std::vector<std::pair<std::string, std::string>> options;  // name, value as text
  std::string rule;  // a Composite's or wrapper's: the group's rule; empty: the optimizer's own kind
};

// "" when n values of this dtype satisfy the check, else what breaks it ("holds -1 at element 3, ...").
std::string broken_invariant(SlotCheck check, const void* data, DType dtype, std::size_t n) {
  if (check == SlotCheck::Any || n == 0) return "";
  std::string out;
  visit_any_dtype(dtype, [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, bfloat16> ||
                  std::is_same_v<T, float16>) {
      for (std::size_t i = 0; i < n; ++i) {
        T raw;
        std::memcpy(&raw, static_cast<const std::byte*>(data) + i * sizeof(T), sizeof(T));
        double v;
        if constexpr (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>) v = to_float(raw);
        else v = static_cast<double>(raw);
        const bool ok = std::isfinite(v) && (check == SlotCheck::Finite || (check == SlotCheck::NonNegative && v >= 0.0) ||
                                             (check == SlotCheck::Positive && v > 0.0));
        if (!ok) {
          out = "holds " + format_number(v) + " at element " + std::to_string(i) + ", but must be " +
                (check == SlotCheck::Finite ? "finite" : check == SlotCheck::NonNegative ? "finite and >= 0" : "finite and > 0");
          return;
        }
      }
    }
  });
  return out;
}

std::vector<SavedGroup> parse_groups(const std::string& text) {
  const auto fail = [](const std::string& what) -> void { throw InvalidArgument("metadata 'groups': " + what); };
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const InvalidArgument& e) {
    fail(e.what());
  }
  if (!root.is(json::Value::Kind::Array)) fail("not a JSON array");
  std::vector<SavedGroup> groups;
  for (const json::Value& g : root.items) {
    const json::Value* params = g.find("params");
    const json::Value* options = g.find("options");
    if (!g.is(json::Value::Kind::Object) || !params || !options || !params->is(json::Value::Kind::Array) ||
        !options->is(json::Value::Kind::Object)) {
      fail("group " + std::to_string(groups.size()) + " is not {\"params\": [...], \"options\": {...}}");
    }
    SavedGroup saved;
    for (const json::Value& p : params->items) {
      if (!p.is(json::Value::Kind::String)) fail("a parameter name of group " + std::to_string(groups.size()) + " is not a string");
      saved.params.push_back(p.text);
    }
    for (const auto& [name, value] : options->members) {
      if (!value.is(json::Value::Kind::String)) fail("option '" + excerpt(name) + "' is not a string");
      saved.options.emplace_back(name, value.text);
    }
    if (const json::Value* rule = g.find("rule")) {
      if (!rule->is(json::Value::Kind::String)) fail("the rule of group " + std::to_string(groups.size()) + " is not a string");
      saved.rule = rule->text;
    }
    groups.push_back(std::move(saved));
  }
  return groups;
}

// What state_dict() writes, load_state_dict() must read: a metadata JSON text the parser would refuse
// (more than json::kMaxValues values, e.g. tens of thousands of one-parameter groups) is refused here.
void readable_json(const std::string& text, std::string_view key) {
  try {
    (void)json::parse(text);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument("state_dict: metadata '" + std::string(key) + "' could not be read back (" + e.what() +
                          "): use fewer parameter groups");
  }
}

}  // namespace

StateDict Optimizer::state_dict(bool with_parameters) const {
  StateDict dict;
  dict.metadata["optimizer"] = name_;
  dict.metadata["skipped_steps"] = std::to_string(skipped_steps_);
  std::string groups = "[";
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    groups.append(g ? "," : "").append("{\"params\":[");
    const auto& members = groups_[g]->members_;
    for (std::size_t i = 0; i < members.size(); ++i) {
      groups.append(i ? "," : "").append(json::quote(records_[members[i]].param.name()));
    }
    groups.append("],\"options\":{");
    const Options& o = groups_[g]->options();
    bool first_option = true;
    for (std::size_t i = 0; i < o.info().size(); ++i) {
      const std::string_view option = o.info()[i].name;
      if (is_later_option(option) && o.get(option) == o.info()[i].default_value) continue;
      groups.append(first_option ? "" : ",").append(json::quote(option)).append(":");
      groups.append(json::quote(o.value_text(option)));
      first_option = false;
    }
    groups.append("}");
    // A Composite or wrapper names each group's rule; a plain optimizer's is its own kind.
    if (!parts_.empty()) groups.append(",\"rule\":").append(json::quote(o.optimizer()));
    groups.append("}");
  }
  dict.metadata["groups"] = groups + "]";
  readable_json(dict.metadata["groups"], "groups");

  // Which slots each parameter has created: a strict load requires exactly these tensors, so that a
  // dropped slot tensor is an error, not a silent reset of that state.
  std::string created = "{";
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const Record& r = records_[i];
    created.append(i ? "," : "").append(json::quote(r.param.name())).append(":[");
    bool first = true;
    for (std::size_t s = 0; s < r.slots.size(); ++s) {
      if (!r.slots[s].ready) continue;
      created.append(first ? "" : ",").append(json::quote(spec_of(r, s).name));
      first = false;
    }
    created.append("]");
  }
  dict.metadata["slots"] = created + "}";
  readable_json(dict.metadata["slots"], "slots");

  for (const Record& r : records_) {
    const std::string& name = r.param.name();
    const std::string prefix = std::string(kStatePrefix) + name + "/";
    dict.tensors[prefix + std::string(kStepSlot)] = Tensor::scalar(r.step);
    const auto& scalar_specs = rule_of(r.group).scalar_slots_;
    for (std::size_t s = 0; s < scalar_specs.size(); ++s) {
      dict.tensors[prefix + std::string(scalar_specs[s].name)] = Tensor::scalar(r.scalars[s]);
    }
    for (std::size_t s = 0; s < r.slots.size(); ++s) {
      const SlotPlace& place = r.slots[s];
      if (!place.ready) continue;
      dict.tensors[prefix + std::string(spec_of(r, s).name)] =
          raw_tensor(place.layout.dtype, slot_address(place), place.elements, place.layout.shape);
    }
    if (with_parameters) {
      dict.tensors[std::string(kParamPrefix) + name] =
          raw_tensor(r.param.dtype(), r.param.value_data(), r.param.size(), shape_of(r.param));
    }
  }
  save_extra(dict);
  return dict;
}

LoadReport Optimizer::load_state_dict(const StateDict& dict, bool strict) {
  const detail::ExclusiveUse use(in_use_, name_, "load_state_dict()");
  const std::string who = std::string(name_) + ": load_state_dict";
  // Fatal mismatches first: without the right kind and groups, nothing else can be read.
  const auto kind = dict.metadata.find("optimizer");
  if (kind == dict.metadata.end()) throw InvalidArgument(who + ": the dictionary names no optimizer (no 'optimizer' metadata)");
  if (kind->second != name_) {
    throw InvalidArgument(who + ": the dictionary holds the state of " + excerpt(kind->second) + ", not " +
                          std::string(name_));
  }
  const auto groups_text = dict.metadata.find("groups");
  if (groups_text == dict.metadata.end()) throw InvalidArgument(who + ": the dictionary has no 'groups' metadata");
  std::vector<SavedGroup> saved;
  try {
    saved = parse_groups(groups_text->second);
  } catch (const InvalidArgument& e) {
    throw InvalidArgument(who + ": " + e.what());
  }
  std::vector<std::string> errors;
  LoadReport report;
  const auto unexpected = [&](const std::string& what) {
    if (strict) errors.push_back("unexpected " + what);
    else report.unexpected.push_back(what);
  };

  // Slots each saved parameter had created (strict loads require exactly those tensors).
  std::map<std::string, std::set<std::string>> created;
  bool has_created = false;
  if (const auto it = dict.metadata.find("slots"); it != dict.metadata.end()) {
    has_created = true;
    json::Value v;
    try {
      v = json::parse(it->second);
    } catch (const InvalidArgument& e) {
      throw InvalidArgument(who + ": metadata 'slots': " + e.what());
    }
    if (!v.is(json::Value::Kind::Object)) throw InvalidArgument(who + ": metadata 'slots' is not a JSON object");
    for (const auto& [param, list] : v.members) {
      if (!list.is(json::Value::Kind::Array)) throw InvalidArgument(who + ": metadata 'slots' of '" + excerpt(param) + "' is not a list");
      created[param];  // an empty list names the parameter too
      for (const json::Value& slot : list.items) {
        if (!slot.is(json::Value::Kind::String)) throw InvalidArgument(who + ": metadata 'slots' of '" + excerpt(param) + "' holds a non-string");
        if (!created[param].insert(slot.text).second) {
          errors.push_back("metadata 'slots' of '" + excerpt(param) + "' lists '" + excerpt(slot.text) + "' twice");
        }
      }
    }
  } else if (strict) {
    throw InvalidArgument(who + ": the dictionary has no 'slots' metadata (load it non-strictly to accept that)");
  }
  std::int64_t skipped = skipped_steps_;
  if (const auto it = dict.metadata.find("skipped_steps"); it != dict.metadata.end()) {
    const auto [ptr, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), skipped);
    if (ec != std::errc() || ptr != it->second.data() + it->second.size() || skipped < 0 || skipped > kMaxCount) {
      throw InvalidArgument(who + ": metadata 'skipped_steps' = '" + excerpt(it->second) + "' is not a count in [0, 2^53]");
    }
  }

  // Group options: each current group takes the options of the saved group that holds its parameters.
  std::map<std::string, std::size_t> saved_group_of;
  for (std::size_t j = 0; j < saved.size(); ++j) {
    for (const std::string& p : saved[j].params) {
      const auto [it, fresh] = saved_group_of.emplace(p, j);
      if (!fresh) {
        errors.push_back("parameter '" + excerpt(p) + "' is listed " +
                         (it->second == j ? "twice in saved group " + std::to_string(j)
                                          : "in saved groups " + std::to_string(it->second) + " and " + std::to_string(j)));
      }
    }
  }
  if (strict && saved.size() != groups_.size()) {
    errors.push_back("the dictionary has " + std::to_string(saved.size()) + " groups, the optimizer " +
                     std::to_string(groups_.size()));
  }
  std::vector<std::unique_ptr<Options>> new_options(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const auto& members = groups_[g]->members_;
    std::size_t match = saved.size();
    for (const std::size_t m : members) {
      const auto it = saved_group_of.find(records_[m].param.name());
      if (it != saved_group_of.end()) {
        match = it->second;
        break;
      }
    }
    if (match == saved.size()) {
      if (strict) errors.push_back("group " + std::to_string(g) + ": none of its parameters is in a saved group");
      continue;
    }
    const std::string saved_rule = saved[match].rule.empty() ? kind->second : saved[match].rule;
    if (saved_rule != groups_[g]->rule()) {
      errors.push_back("group " + std::to_string(g) + " runs " + std::string(groups_[g]->rule()) + ", but saved group " +
                       std::to_string(match) + " ran " + excerpt(saved_rule));
      continue;
    }
    if (strict) {
      std::set<std::string> mine, theirs(saved[match].params.begin(), saved[match].params.end());
      for (const std::size_t m : members) mine.insert(records_[m].param.name());
      if (mine != theirs) {
        errors.push_back("group " + std::to_string(g) + " does not hold the same parameters as saved group " +
                         std::to_string(match));
      }
    }
    auto options = groups_[g]->options().clone();
    for (const OptionInfo& info : options->info()) {
      if (is_later_option(info.name)) options->set(info.name, info.default_value);
    }
    std::set<std::string> seen;
    for (const auto& [option, text] : saved[match].options) {
      const std::string what = "group " + std::to_string(g) + ": option '" + excerpt(option) + "'";
      seen.insert(option);
      if (!options->has(option)) {
        unexpected("option '" + excerpt(option) + "' of saved group " + std::to_string(match) + " (" +
                   std::string(groups_[g]->rule()) + " has no such option)");
        continue;
      }
      try {
        options->set_from_text(option, text);
      } catch (const InvalidArgument& e) {
        errors.push_back(what + ": " + e.what());
      }
    }
    if (options->has(kLayoutOption)) options->set(kLayoutOption, groups_[g]->options().get(kLayoutOption));
    // bf16_params also lays out slots (a master copy or a compensation) for bfloat16 parameters, and they
    // cannot be converted; a group without bfloat16 parameters has none, so it takes the saved value.
    bool has_bfloat16 = false;
    for (const std::size_t m : groups_[g]->members()) has_bfloat16 |= records_[m].param.dtype() == DType::BFloat16;
    if (has_bfloat16 && options->has(kBF16ParamsOption) &&
        options->get(kBF16ParamsOption) != groups_[g]->options().get(kBF16ParamsOption)) {
      errors.push_back("group " + std::to_string(g) + ": bf16_params=" +
                       std::string(kBF16ParamsNames[static_cast<std::size_t>(options->get(kBF16ParamsOption))]) +
                       " was saved, but this group has bf16_params=" +
                       std::string(kBF16ParamsNames[static_cast<std::size_t>(groups_[g]->options().get(kBF16ParamsOption))]) +
                       ", fixed when the group was added (build the optimizer with the saved one)");
    }
    for (const OptionInfo& info : options->info()) {
      if (!seen.count(std::string(info.name)) && strict && !is_later_option(info.name)) {
        errors.push_back("missing option '" + std::string(info.name) + "' for group " + std::to_string(g));
      }
    }
    try {
      options->validate();
    } catch (const InvalidArgument& e) {
      errors.push_back("group " + std::to_string(g) + ": " + e.what());
    }
    new_options[g] = std::move(options);
  }

  // Tensors, by name.
  struct Incoming {
    bool has_step = false;
    std::int64_t step = 0;
    std::vector<double> scalars;
    std::vector<bool> has_scalar;
    std::vector<const Tensor*> slots;  // one per slot of the record, null when absent
    const Tensor* value = nullptr;
  };
  std::vector<Incoming> incoming(records_.size());
  for (std::size_t i = 0; i < records_.size(); ++i) {
    incoming[i].scalars.assign(records_[i].scalars.size(), 0.0);
    incoming[i].has_scalar.assign(records_[i].scalars.size(), false);
    incoming[i].slots.assign(records_[i].slots.size(), nullptr);
  }
  bool any_value = false;
  // Slot tensors of another state_dtype, and what they convert to (owned here until the commit).
  struct Pending {
    std::size_t record, slot;
    const Tensor* tensor;
    std::string key;
  };
  std::vector<Pending> pending;
  std::vector<std::unique_ptr<Tensor>> converted;
  std::vector<std::vector<bool>> was_converted(records_.size());
  for (std::size_t i = 0; i < records_.size(); ++i) was_converted[i].assign(records_[i].slots.size(), false);
  const auto check_layout = [&](const std::string& key, const Tensor& t, TensorType type,
                                const std::vector<std::int64_t>& shape, const std::string& whose) {
    if (t.type != type || t.shape != shape) {
      errors.push_back("mis-shaped '" + excerpt(key) + "': " + std::string(name_of(t.type)) + " " + shape_text(t.shape) +
                       ", but " + whose + " is " + std::string(name_of(type)) + " " + shape_text(shape));
      return false;
    }
    return true;
  };
  for (const auto& [key, t] : dict.tensors) {
    if (!t.fits_shape()) {
      errors.push_back("mis-shaped '" + excerpt(key) + "': " + std::to_string(t.bytes.size()) + " bytes for shape " +
                       shape_text(t.shape) + " of " + std::string(name_of(t.type)));
      continue;
    }
    if (key.starts_with(kParamPrefix)) {
      const auto it = by_name_.find(key.substr(kParamPrefix.size()));
      if (it == by_name_.end()) {
        unexpected("parameter '" + excerpt(key) + "'");
        continue;
      }
      any_value = true;
      const Parameter& p = records_[it->second].param;
      if (check_layout(key, t, tensor_type(p.dtype()), shape_of(p), "parameter '" + p.name() + "'")) {
        incoming[it->second].value = &t;
      }
      continue;
    }
    const std::size_t slash = key.rfind('/');
    if (!key.starts_with(kStatePrefix) || slash < kStatePrefix.size()) {
      unexpected("tensor '" + excerpt(key) + "'");
      continue;
    }
    const auto it = by_name_.find(key.substr(kStatePrefix.size(), slash - kStatePrefix.size()));
    if (it == by_name_.end()) {
      unexpected("state '" + excerpt(key) + "' (no parameter of that name)");
      continue;
    }
    const std::string slot = key.substr(slash + 1);
    const Record& r = records_[it->second];
    Incoming& in = incoming[it->second];
    const bool is_scalar_tensor = t.shape.empty();
    if (slot == kStepSlot) {
      if (t.type != TensorType::I64 || !is_scalar_tensor) {
        errors.push_back("mis-shaped '" + excerpt(key) + "': a step count is an I64 scalar");
      } else {
        in.step = t.values<std::int64_t>(key)[0];
        in.has_step = true;
        if (in.step < 0 || in.step > kMaxCount) {
          errors.push_back("'" + excerpt(key) + "' = " + std::to_string(in.step) + " is not a step count in [0, 2^53]");
        }
      }
      continue;
    }
    bool known = false;
    const auto& scalar_specs = rule_of(r.group).scalar_slots_;
    for (std::size_t s = 0; s < scalar_specs.size() && !known; ++s) {
      if (scalar_specs[s].name != slot) continue;
      known = true;
      if (t.type != TensorType::F64 || !is_scalar_tensor) {
        errors.push_back("mis-shaped '" + excerpt(key) + "': a scalar state is an F64 scalar");
      } else {
        in.scalars[s] = t.values<double>(key)[0];
        in.has_scalar[s] = true;
        if (const std::string bad = broken_invariant(scalar_specs[s].check, &in.scalars[s], DType::Float64, 1); !bad.empty()) {
          errors.push_back("'" + excerpt(key) + "' " + bad);
        }
      }
    }
    for (std::size_t s = 0; s < r.slots.size() && !known; ++s) {
      const SlotSpec& spec = spec_of(r, s);
      if (spec.name != slot) continue;
      known = true;
      const SlotLayout& layout = r.slots[s].layout;
      // Another state_dtype's encoding of this slot: converted below, once every tensor is known.
      const bool is_absmax = spec.name.ends_with(kAbsmaxSuffix);
      if ((t.type != tensor_type(layout.dtype) || t.shape != layout.shape) && convertible(t.type) &&
          convertible(tensor_type(layout.dtype)) && (is_absmax || t.shape == layout.shape)) {
        pending.push_back({it->second, s, &t, key});
        continue;
      }
      if (!check_layout(key, t, tensor_type(layout.dtype), layout.shape,
                        "the '" + std::string(spec.name) + "' slot of '" + r.param.name() + "'")) {
        continue;
      }
      if (const std::string bad = broken_invariant(spec.check, t.bytes.data(), layout.dtype, r.slots[s].elements); !bad.empty()) {
        errors.push_back("'" + excerpt(key) + "' " + bad);
        continue;
      }
      in.slots[s] = &t;
    }
    if (!known) {
      unexpected("state '" + excerpt(key) + "' (" + std::string(rule_of(r.group).name_) + " has no slot '" + excerpt(slot) + "')");
    }
  }
  for (const Pending& pend : pending) {
    const Record& r = records_[pend.record];
    const SlotSpec& spec = spec_of(r, pend.slot);
    if (spec.name.ends_with(kAbsmaxSuffix)) {
      was_converted[pend.record][pend.slot] = true;  // read with (or dropped for) its slot below
      continue;
    }
    const Tensor& t = *pend.tensor;
    const SlotPlace& place = r.slots[pend.slot];
    const std::size_t n = place.elements;
    const std::string absmax_name = std::string(spec.name) + std::string(kAbsmaxSuffix);
    std::size_t absmax_slot = r.slots.size();
    for (std::size_t s = 0; s < r.slots.size(); ++s) {
      if (spec_of(r, s).name == absmax_name) absmax_slot = s;
    }
    const bool is_signed = spec.check != SlotCheck::NonNegative;
    const Tensor* source_absmax = nullptr;
    if (t.type == TensorType::U8) {
      const auto found = dict.tensors.find(pend.key + std::string(kAbsmaxSuffix));
      const std::int64_t blocks = static_cast<std::int64_t>(lowbit::blocks_of(n));
      if (found == dict.tensors.end() || found->second.type != TensorType::F32 || found->second.shape != std::vector<std::int64_t>{blocks}) {
        errors.push_back("'" + excerpt(pend.key) + "' holds uint8 codes, which need '" + excerpt(pend.key) +
                         std::string(kAbsmaxSuffix) + "' as F32 [" + std::to_string(blocks) + "]");
        continue;
      }
      source_absmax = &found->second;
      if (const std::string bad = broken_invariant(SlotCheck::NonNegative, source_absmax->bytes.data(), DType::Float32,
                                                   static_cast<std::size_t>(blocks)); !bad.empty()) {
        errors.push_back("'" + excerpt(pend.key) + std::string(kAbsmaxSuffix) + "' " + bad);
        continue;
      }
    }
    const std::vector<float> values = decode_state(t, source_absmax, is_signed, n);
    if (const std::string bad = broken_invariant(spec.check, values.data(), DType::Float32, n); !bad.empty()) {
      errors.push_back("'" + excerpt(pend.key) + "' " + bad);
      continue;
    }
    auto out = std::make_unique<Tensor>();
    out->type = tensor_type(place.layout.dtype);
    out->shape = place.layout.shape;
    out->bytes.resize(n * size_of(out->type));
    if (place.layout.dtype == DType::Float32) {
      if (n) std::memcpy(out->bytes.data(), values.data(), n * 4);
    } else if (place.layout.dtype == DType::BFloat16) {
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t bits = lowbit::reference::to_bfloat16(values[i], {}, 0);
        std::memcpy(out->bytes.data() + 2 * i, &bits, 2);
      }
    } else {  // uint8 codes, and their block scales into the companion slot
      if (absmax_slot == r.slots.size()) throw Error("internal: slot '" + std::string(spec.name) + "' has no " + absmax_name);
      auto scales = std::make_unique<Tensor>();
      scales->type = TensorType::F32;
      scales->shape = r.slots[absmax_slot].layout.shape;
      scales->bytes.resize(lowbit::blocks_of(n) * 4);
      lowbit::reference::quantize_blockwise(values.data(), n, is_signed, {}, reinterpret_cast<std::uint8_t*>(out->bytes.data()),
                                            reinterpret_cast<float*>(scales->bytes.data()));
      incoming[pend.record].slots[absmax_slot] = scales.get();
      converted.push_back(std::move(scales));
    }
    if (absmax_slot < r.slots.size()) was_converted[pend.record][absmax_slot] = true;
    was_converted[pend.record][pend.slot] = true;
    incoming[pend.record].slots[pend.slot] = out.get();
    converted.push_back(std::move(out));
  }
  // A converted slot's source block scales go with it; where the new encoding has none, the slot stays
  // not created.
  for (const Pending& pend : pending) {
    const SlotSpec& spec = spec_of(records_[pend.record], pend.slot);
    if (!spec.name.ends_with(kAbsmaxSuffix)) continue;
    Incoming& in = incoming[pend.record];
    if (in.slots[pend.slot] == pend.tensor) in.slots[pend.slot] = nullptr;
  }
  for (std::size_t i = 0; i < records_.size(); ++i) {
    for (std::size_t s = 0; s < records_[i].slots.size(); ++s) {
      // An absmax tensor that matched its layout but whose slot was converted from another encoding.
      if (!spec_of(records_[i], s).name.ends_with(kAbsmaxSuffix) || !incoming[i].slots[s]) continue;
      const std::string main(spec_of(records_[i], s).name.substr(0, spec_of(records_[i], s).name.size() - kAbsmaxSuffix.size()));
      for (std::size_t m = 0; m < records_[i].slots.size(); ++m) {
        if (spec_of(records_[i], m).name == main && was_converted[i][m] && records_[i].slots[m].layout.dtype != DType::UInt8) {
          incoming[i].slots[s] = nullptr;
          was_converted[i][s] = true;
        }
      }
    }
  }
  if (has_created) {
    for (const auto& [param, slots] : created) {
      const auto it = by_name_.find(param);
      if (it == by_name_.end()) {
        if (dict.tensors.count(std::string(kStatePrefix) + param + "/" + std::string(kStepSlot)) == 0) {
          unexpected("metadata 'slots' entry for '" + excerpt(param) + "' (no parameter of that name, and no state for it)");
        }
        continue;
      }
      const Record& r = records_[it->second];
      for (const std::string& slot : slots) {
        bool known = false;
        for (std::size_t s = 0; s < r.slots.size() && !known; ++s) known = spec_of(r, s).name == slot;
        if (!known) unexpected("slot '" + excerpt(slot) + "' of '" + excerpt(param) + "' in metadata 'slots' (" + std::string(rule_of(r.group).name_) + " has no such slot)");
      }
    }
  }
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const Record& r = records_[i];
    const std::string& name = r.param.name();
    Incoming& in = incoming[i];
    if (!in.has_step) {
      if (strict) errors.push_back("missing state of parameter '" + name + "'");
      else report.missing.push_back(name);
      // Without a step count the parameter's state is not loaded: its slot tensors go unused.
      for (std::size_t s = 0; s < r.slots.size(); ++s) {
        if (in.slots[s]) unexpected("state '" + std::string(kStatePrefix) + name + "/" + std::string(spec_of(r, s).name) + "' (no step count for '" + name + "')");
      }
      continue;
    }
    const auto& scalar_specs = rule_of(r.group).scalar_slots_;
    for (std::size_t s = 0; s < scalar_specs.size(); ++s) {
      if (!in.has_scalar[s]) errors.push_back("missing '" + std::string(kStatePrefix) + name + "/" + std::string(scalar_specs[s].name) + "'");
    }
    if (in.step == 0) {
      // A parameter that never stepped has created no slot and moved no scalar from its initial value.
      for (std::size_t s = 0; s < r.slots.size(); ++s) {
        if (in.slots[s]) errors.push_back("'" + std::string(kStatePrefix) + name + "/" + std::string(spec_of(r, s).name) + "' exists, but '" + name + "' has taken 0 steps");
      }
    }
    if (any_value && !in.value && strict) errors.push_back("missing value of parameter '" + name + "' (param/" + name + ")");
    if (in.value) {
      if (const std::string bad = broken_invariant(SlotCheck::Finite, in.value->bytes.data(), r.param.dtype(), r.param.size()); !bad.empty()) {
        errors.push_back("'" + std::string(kParamPrefix) + name + "' " + bad);
      }
    }
    if (!has_created) continue;
    const auto listed = created.find(name);
    for (std::size_t s = 0; s < r.slots.size(); ++s) {
      const std::string slot_name(spec_of(r, s).name);
      const bool expected = listed != created.end() && listed->second.count(slot_name);
      const std::string key = std::string(kStatePrefix) + name + "/" + slot_name;
      if (was_converted[i][s]) continue;  // another state_dtype's slots: their presence follows the encoding
      if (expected && !in.slots[s]) {
        if (strict) errors.push_back("missing '" + key + "' (the parameter had created that slot)");
        else report.missing.push_back(key);
      } else if (!expected && in.slots[s] && strict) {
        errors.push_back("unexpected '" + key + "' (metadata 'slots' does not list it)");
      }
    }
  }
  std::function<void()> commit_extra;
  try {
    commit_extra = load_extra(dict);
  } catch (const InvalidArgument& e) {
    errors.push_back(e.what());
  }
  if (!errors.empty()) {
    std::string message = who + ": cannot load (" + std::to_string(errors.size()) + " problem" +
                          (errors.size() == 1 ? "" : "s") + "; nothing was changed):";
    for (const std::string& e : errors) message.append("\n  - ").append(e);
    throw InvalidArgument(message);
  }

  // Commit. Only allocation can fail, so allocate first, then change things with operations that cannot.
  std::vector<std::vector<AlignedBuffer>> fresh_arenas(arenas_.size());
  for (std::size_t a = 0; a < arenas_.size(); ++a) fresh_arenas[a].resize(arenas_[a].size());
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const Record& r = records_[i];
    if (!incoming[i].has_step) continue;
    for (std::size_t s = 0; s < r.slots.size(); ++s) {
      const SlotPlace& place = r.slots[s];
      if (!incoming[i].slots[s] || place.external || !place.arena->empty()) continue;
      for (std::size_t a = 0; a < arenas_.size(); ++a) {
        for (std::size_t k = 0; k < arenas_[a].size(); ++k) {
          if (arenas_[a][k].get() == place.arena && fresh_arenas[a][k].empty()) fresh_arenas[a][k] = AlignedBuffer(arena_bytes_[a][k]);
        }
      }
    }
  }
  for (std::size_t a = 0; a < arenas_.size(); ++a) {
    for (std::size_t k = 0; k < arenas_[a].size(); ++k) {
      if (!fresh_arenas[a][k].empty()) *arenas_[a][k] = std::move(fresh_arenas[a][k]);
    }
  }
  for (std::size_t i = 0; i < records_.size(); ++i) {
    Record& r = records_[i];
    const Incoming& in = incoming[i];
    if (!in.has_step) continue;
    r.step = in.step;
    std::copy(in.scalars.begin(), in.scalars.end(), r.scalars.begin());
    for (std::size_t s = 0; s < r.slots.size(); ++s) {
      SlotPlace& place = r.slots[s];
      place.ready = in.slots[s] != nullptr;
      if (place.ready && !in.slots[s]->bytes.empty()) std::memcpy(slot_address(place), in.slots[s]->bytes.data(), in.slots[s]->bytes.size());
    }
  }
  for (std::size_t i = 0; i < records_.size(); ++i) {
    const Tensor* value = incoming[i].value;
    if (value && !value->bytes.empty()) std::memcpy(records_[i].param.value_data(), value->bytes.data(), value->bytes.size());
  }
  // Copied value by value (ranges already checked on the copy, so set() cannot throw), keeping the
  // group's Options object: references to it (a schedule's, the caller's) stay valid.
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    if (!new_options[g]) continue;
    for (const OptionInfo& info : new_options[g]->info()) groups_[g]->options().set(info.name, new_options[g]->get(info.name));
  }
  skipped_steps_ = skipped;
  commit_extra();
  return report;
}

}  // namespace descent
