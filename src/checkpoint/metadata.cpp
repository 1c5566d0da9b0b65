#include "checkpoint/metadata.hpp"

#include "descent/error.hpp"

namespace descent::detail {

json::Value metadata_object(const StateDict& dict, const std::string& key, const std::string& source,
                            std::string_view missing_hint) {
  const auto it = dict.metadata.find(key);
  if (it == dict.metadata.end()) {
    std::string message = source + ": no '" + key + "' metadata";
    if (!missing_hint.empty()) message.append(": ").append(missing_hint);
    throw InvalidArgument(message);
  }
  return json::parse_object(it->second, source + ": metadata '" + key + "'");
}

}  // namespace descent::detail
