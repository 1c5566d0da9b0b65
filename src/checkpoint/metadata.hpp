// Reading the JSON objects that descent keeps in a checkpoint's metadata (a training run's position and
// schedule, descent::dist's index and shard identities). Internal.
#pragma once

#include <string>
#include <string_view>

#include "checkpoint/json.hpp"
#include "descent/checkpoint.hpp"

namespace descent::detail {

// The object stored as JSON text under metadata `key` of `dict`. Throws InvalidArgument, prefixed with
// `source` (the file, or whatever names it to the reader), when the key is missing ("<source>: no '<key>'
// metadata", then ": <missing_hint>" when the hint is not empty, e.g. "not a training checkpoint"), when
// the text is not JSON or when it is not an object.
json::Value metadata_object(const StateDict& dict, const std::string& key, const std::string& source,
                            std::string_view missing_hint = {});

}  // namespace descent::detail
