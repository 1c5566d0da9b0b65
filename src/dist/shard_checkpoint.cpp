// ShardedOptimizer's checkpoints: one safetensors shard per rank with the state of the tensors it owns,
// and an index, written last, that names them all. Loading regroups the state for the ranks' current
// ownership, so a checkpoint loads at any world size. docs/distributed.md, "Checkpoints".
#include <set>
#include <system_error>

#include "checkpoint/json.hpp"
#include "checkpoint/metadata.hpp"
#include "descent/checkpoint.hpp"
#include "descent/dist.hpp"
#include "descent/error.hpp"
#include "dist/collective.hpp"

namespace descent::dist {

namespace json = descent::detail::json;
using descent::detail::metadata_object;
using detail::agree;

namespace {

constexpr const char* kIndexKey = "descent.dist.index";
constexpr const char* kShardKey = "descent.dist.shard";

// What identifies a shard: the run and save it belongs to, its rank and the world size it was saved at.
struct ShardId {
  std::string run;
  std::uint64_t save = 0, rank = 0, world_size = 0;
  std::string text() const {
    return "run " + run + ", save " + std::to_string(save) + ", rank " + std::to_string(rank) + " of " +
           std::to_string(world_size);
  }
  bool operator==(const ShardId&) const = default;
};

std::string shard_meta(const ShardId& id) {
  return "{\"run\":" + json::quote(id.run) + ",\"save\":" + std::to_string(id.save) + ",\"rank\":" +
         std::to_string(id.rank) + ",\"world_size\":" + std::to_string(id.world_size) + "}";
}

std::uint64_t count_in(const json::Value& object, const char* key, const std::string& where) {
  const json::Value* v = object.find(key);
  std::uint64_t out = 0;
  if (!v || !json::to_uint64(*v, out)) throw InvalidArgument(where + ": '" + key + "' is missing or not a count");
  return out;
}

std::string text_in(const json::Value& object, const char* key, const std::string& where) {
  const json::Value* v = object.find(key);
  if (!v || !v->is(json::Value::Kind::String)) throw InvalidArgument(where + ": '" + key + "' is missing or not a text");
  return v->text;
}

ShardId shard_id(const json::Value& meta, const std::string& where) {
  return {text_in(meta, "run", where), count_in(meta, "save", where), count_in(meta, "rank", where),
          count_in(meta, "world_size", where)};
}

bool reserved(const std::string& key) {
  return key.starts_with("descent.dist") || key == "format" || key == "format_version" || key == "checksum";
}

// A saved group's options as one canonical text, and the rule it ran.
struct SavedOptions {
  std::string options;  // {"lr":"0.001",...}
  std::string rule;
};

}  // namespace

void ShardedOptimizer::save(const std::filesystem::path& index, const std::map<std::string, std::string>& metadata) {
  const std::uint64_t save = saves_ + 1;
  const std::filesystem::path folder = index.parent_path();
  const auto shard_file = [&](int r) {
    return index.filename().string() + "." + run_id_ + "." + std::to_string(save) + ".rank" + std::to_string(r) + "-of-" +
           std::to_string(world_) + ".safetensors";
  };
  const std::filesystem::path mine = folder / shard_file(rank_);
  const std::string source = index.string();
  std::vector<std::filesystem::path> replaced;
  const auto remove_mine = [&] {
    std::error_code ignored;
    std::filesystem::remove(mine, ignored);
  };
  try {
    agree(comm_, [&] {
      for (const auto& [key, value] : metadata) {
        if (reserved(key)) throw InvalidArgument("save: metadata key '" + excerpt(key) + "' is reserved");
      }
      StateDict dict = local_ ? local_->state_dict(/*with_parameters=*/true) : StateDict{};
      dict.metadata[kShardKey] = shard_meta({run_id_, save, static_cast<std::uint64_t>(rank_),
                                             static_cast<std::uint64_t>(world_)});
      save_checkpoint(mine, dict);
    });
    // Every shard is on disk: the index, last, makes them the checkpoint.
    agree(comm_, [&] {
      if (rank_ != 0) return;
      // The shards the index names now (of any run), removed once it names the new ones.
      try {
        const json::Value old = metadata_object(load_checkpoint(index), kIndexKey, source);
        if (const json::Value* shards = old.find("shards"); shards && shards->is(json::Value::Kind::Array)) {
          for (const json::Value& s : shards->items) {
            const json::Value* file = s.find("file");
            if (file && file->is(json::Value::Kind::String) && file->text.starts_with(index.filename().string() + ".") &&
                file->text.find('/') == std::string::npos) {
              replaced.push_back(folder / file->text);
            }
          }
        }
      } catch (const Error&) {
        replaced.clear();  // no index yet, or not one of ours: nothing to remove
      }
      StateDict dict;
      dict.metadata = metadata;
      std::string text = "{\"run\":" + json::quote(run_id_) + ",\"save\":" + std::to_string(save) +
                         ",\"world_size\":" + std::to_string(world_) + ",\"skipped_steps\":" +
                         std::to_string(skipped_steps_) + ",\"shards\":[";
      for (int r = 0; r < world_; ++r) {
        text.append(r ? "," : "").append("{\"file\":").append(json::quote(shard_file(r))).append(",\"params\":[");
        const auto& owned = owned_[static_cast<std::size_t>(r)];
        for (std::size_t k = 0; k < owned.size(); ++k) text.append(k ? "," : "").append(json::quote(params_[owned[k]].name()));
        text += "]}";
      }
      dict.metadata[kIndexKey] = text + "]}";
      save_checkpoint(index, dict);
    });
  } catch (...) {
    remove_mine();  // the index still names the previous shards; this one would only take space
    throw;
  }
  saves_ = save;
  // Rank 0 removes the shards the index named before (the new names never equal them: they carry
  // this object's run id and save number). A failure to remove only leaves a file behind.
  for (const std::filesystem::path& old : replaced) {
    bool current = false;
    for (int r = 0; r < world_; ++r) current = current || old == folder / shard_file(r);
    std::error_code ignored;
    if (!current) std::filesystem::remove(old, ignored);
  }
}

std::map<std::string, std::string> ShardedOptimizer::load(const std::filesystem::path& index) {
  const std::string source = index.string();
  StateDict wanted;  // what this rank's optimizer loads
  std::map<std::string, std::string> caller;
  std::int64_t skipped = 0;
  // Phase 1: every check, on every rank, before anything changes.
  agree(comm_, [&] {
    const StateDict saved_index = load_checkpoint(index);
    const json::Value meta = metadata_object(saved_index, kIndexKey, source + " (not a descent::dist checkpoint index?)");
    const std::string where = source + ": index";
    const std::string run = text_in(meta, "run", where);
    const std::uint64_t save = count_in(meta, "save", where), world = count_in(meta, "world_size", where);
    const std::uint64_t skipped_count = count_in(meta, "skipped_steps", where);
    if (skipped_count > static_cast<std::uint64_t>(kMaxStepCount)) {
      throw InvalidArgument(where + ": 'skipped_steps' = " + std::to_string(skipped_count) + " is past 2^53");
    }
    skipped = static_cast<std::int64_t>(skipped_count);
    const json::Value* shards = meta.find("shards");
    if (!shards || !shards->is(json::Value::Kind::Array)) throw InvalidArgument(where + ": 'shards' is not a list");
    if (shards->items.size() != world) {
      throw InvalidArgument(where + ": it names " + std::to_string(shards->items.size()) + " shards for a world size of " +
                            std::to_string(world));
    }
    // Which shard holds each parameter; every parameter of this model exactly once, and no other.
    std::vector<std::string> files;
    std::map<std::string, std::size_t> shard_of;
    for (const json::Value& s : shards->items) {
      const std::string at = where + ": shard " + std::to_string(files.size());
      if (!s.is(json::Value::Kind::Object)) throw InvalidArgument(at + " is not an object");
      const std::string file = text_in(s, "file", at);
      if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
        throw InvalidArgument(at + ": file '" + excerpt(file) + "' is not a file name beside the index");
      }
      const json::Value* params = s.find("params");
      if (!params || !params->is(json::Value::Kind::Array)) throw InvalidArgument(at + ": 'params' is not a list");
      for (const json::Value& p : params->items) {
        if (!p.is(json::Value::Kind::String)) throw InvalidArgument(at + ": a parameter name is not a text");
        if (!shard_of.emplace(p.text, files.size()).second) {
          throw InvalidArgument(where + ": parameter '" + excerpt(p.text) + "' is in two shards");
        }
      }
      files.push_back(file);
    }
    std::string missing, unknown;
    std::set<std::string> mine;
    for (const Parameter& p : params_) {
      mine.insert(p.name());
      if (!shard_of.count(p.name())) missing.append(missing.empty() ? "'" : ", '").append(excerpt(p.name())).append("'");
    }
    for (const auto& [name, s] : shard_of) {
      if (!mine.count(name)) unknown.append(unknown.empty() ? "'" : ", '").append(excerpt(name)).append("'");
    }
    if (!missing.empty() || !unknown.empty()) {
      throw InvalidArgument(source + ": the checkpoint does not hold this model's parameters" +
                            (missing.empty() ? "" : "; missing: " + missing) +
                            (unknown.empty() ? "" : "; not in this model: " + unknown));
    }
    const std::filesystem::path folder = index.parent_path();
    if (rank_ == 0) {  // a shard no rank reads now (of a rank that owned nothing) must be there too
      for (const std::string& file : files) {
        if (!std::filesystem::exists(folder / file)) {
          throw NotFound(source + ": the index names shard '" + file + "', which does not exist");
        }
      }
    }
    for (const auto& [key, value] : saved_index.metadata) {
      if (!reserved(key)) caller[key] = value;
    }
    if (!local_) return;

    // The shards that hold this rank's tensors now: their state, regrouped for this optimizer.
    std::set<std::size_t> needed;
    std::set<std::string> owned;
    for (std::size_t k = 0; k < local_->num_parameters(); ++k) {
      owned.insert(local_->parameter(k).name());
      needed.insert(shard_of.at(local_->parameter(k).name()));
    }
    std::set<std::string> slot_names{"step"};
    for (const std::string_view s : local_->slot_names()) slot_names.emplace(s);
    for (const std::string_view s : local_->scalar_slot_names()) slot_names.emplace(s);
    std::map<std::string, SavedOptions> options_of;
    std::map<std::string, std::string> slots_of;  // parameter -> its JSON list of created slots
    std::map<std::string, std::string> extras;    // a wrapper's own metadata (EMA's)
    std::string extras_from;
    for (const std::size_t k : needed) {
      const std::filesystem::path path = folder / files[k];
      if (!std::filesystem::exists(path)) {
        throw NotFound(source + ": the index names shard '" + files[k] + "', which does not exist");
      }
      const StateDict shard = load_checkpoint(path);
      const std::string at = path.string();
      const ShardId expected{run, save, k, world};
      const ShardId found = shard_id(metadata_object(shard, kShardKey, at + " (not a descent::dist shard?)"), at);
      if (!(found == expected)) {
        throw InvalidArgument(at + " is the shard of " + found.text() + "; the index " + source + " names it as " +
                              expected.text());
      }
      const auto kind = shard.metadata.find("optimizer");
      if (kind == shard.metadata.end() || kind->second != local_->name()) {
        throw InvalidArgument(at + " holds the state of " +
                              (kind == shard.metadata.end() ? std::string("no optimizer") : excerpt(kind->second)) +
                              ", this rank's optimizer is " + std::string(local_->name()));
      }
      // Group options by parameter.
      json::Value groups;
      try {
        groups = json::parse(shard.meta("groups"));
      } catch (const Error& e) {
        throw InvalidArgument(at + ": metadata 'groups': " + e.what());
      }
      if (!groups.is(json::Value::Kind::Array)) throw InvalidArgument(at + ": metadata 'groups' is not a list");
      for (const json::Value& g : groups.items) {
        const json::Value* params = g.find("params");
        const json::Value* options = g.find("options");
        const json::Value* rule = g.find("rule");
        if (!params || !options || !params->is(json::Value::Kind::Array) || !options->is(json::Value::Kind::Object) ||
            (rule && !rule->is(json::Value::Kind::String))) {
          throw InvalidArgument(at + ": metadata 'groups' holds a group that is not {\"params\": [...], \"options\": {...}}");
        }
        SavedOptions saved{"{", rule ? rule->text : kind->second};
        for (std::size_t m = 0; m < options->members.size(); ++m) {
          const auto& [name, value] = options->members[m];
          if (!value.is(json::Value::Kind::String)) throw InvalidArgument(at + ": option '" + excerpt(name) + "' is not a text");
          saved.options.append(m ? "," : "").append(json::quote(name)).append(":").append(json::quote(value.text));
        }
        saved.options += "}";
        for (const json::Value& p : params->items) {
          if (p.is(json::Value::Kind::String)) options_of[p.text] = saved;
        }
      }
      const json::Value slots = metadata_object(shard, "slots", at);
      for (const auto& [param, list] : slots.members) {
        if (!list.is(json::Value::Kind::Array)) throw InvalidArgument(at + ": metadata 'slots' of '" + excerpt(param) + "' is not a list");
        std::string text = "[";
        for (std::size_t s = 0; s < list.items.size(); ++s) {
          if (!list.items[s].is(json::Value::Kind::String)) throw InvalidArgument(at + ": metadata 'slots' holds a non-text");
          text.append(s ? "," : "").append(json::quote(list.items[s].text));
        }
        slots_of[param] = text + "]";
      }
      for (const auto& [key, value] : shard.metadata) {
        if (reserved(key) || key == "optimizer" || key == "groups" || key == "slots" || key == "skipped_steps") continue;
        const auto [it, fresh] = extras.emplace(key, value);
        if (!fresh && it->second != value) {
          throw InvalidArgument(at + ": metadata '" + excerpt(key) + "' differs from that of " + extras_from);
        }
      }
      if (extras_from.empty()) extras_from = at;
      // This rank's tensors: the values and every state tensor of a known slot.
      for (const auto& [name, tensor] : shard.tensors) {
        std::string param, slot;
        if (name.starts_with("param/")) {
          param = name.substr(6);
        } else if (name.starts_with("state/")) {
          const std::size_t cut = name.rfind('/');
          param = name.substr(6, cut - 6);
          slot = name.substr(cut + 1);
          if (cut < 6 || !slot_names.count(slot)) continue;
        } else {
          continue;
        }
        // Only the tensors of parameters this shard holds (by the index) and this rank owns now.
        if (owned.count(param) && shard_of.at(param) == k) wanted.tensors[name] = tensor;
      }
    }
    // The groups of this rank's optimizer, each with the options its parameters were saved with.
    std::string groups = "[";
    for (std::size_t g = 0; g < local_->num_groups(); ++g) {
      const ParamGroup& group = local_->group(g);
      std::string params;
      const SavedOptions* options = nullptr;
      for (const std::size_t m : group.members()) {
        const std::string& name = local_->parameter(m).name();
        const auto it = options_of.find(name);
        if (it == options_of.end()) throw InvalidArgument(source + ": no saved group holds parameter '" + excerpt(name) + "'");
        if (options && (it->second.options != options->options || it->second.rule != options->rule)) {
          throw InvalidArgument(source + ": the parameters of group " + std::to_string(g) +
                                " were saved with different options or rules; they cannot share a group now");
        }
        options = &it->second;
        params.append(params.empty() ? "" : ",").append(json::quote(name));
      }
      groups.append(g ? "," : "").append("{\"params\":[").append(params).append("],\"options\":").append(options->options);
      if (group.rule() != local_->name()) groups += ",\"rule\":" + json::quote(options->rule);
      groups += "}";
    }
    wanted.metadata = extras;
    wanted.metadata["optimizer"] = std::string(local_->name());
    wanted.metadata["groups"] = groups + "]";
    std::string slots = "{";
    for (std::size_t k = 0; k < local_->num_parameters(); ++k) {
      const std::string& name = local_->parameter(k).name();
      const auto it = slots_of.find(name);
      if (it == slots_of.end()) continue;
      slots.append(slots.size() > 1 ? "," : "").append(json::quote(name)).append(":").append(it->second);
    }
    wanted.metadata["slots"] = slots + "}";
  });

  // Phase 2: each rank loads its part (strictly, checked first); if any rank refuses, the others undo.
  StateDict backup;
  bool loaded = false;
  try {
    agree(comm_, [&] {
      if (!local_) return;
      backup = local_->state_dict(/*with_parameters=*/true);
      local_->load_state_dict(wanted);
      loaded = true;
    });
  } catch (...) {
    if (loaded) local_->load_state_dict(backup);
    throw;
  }
  skipped_steps_ = skipped;
  reduced_ = false;
  gather_parameters();  // every rank receives the values of the tensors it does not own
  return caller;
}

}  // namespace descent::dist
