// A minimal reader of safetensors files (8-byte little-endian header length, JSON header, raw data),
// for the reference trajectories. Test support only: it trusts its input and throws on anything odd.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace descent::testing {

struct TensorRecord {
  std::string dtype;  // "F32" or "F64"
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> bytes;

  // The values widened to double (exact for both dtypes).
  std::vector<double> values() const {
    std::vector<double> out;
    if (bytes.empty()) return out;  // memcpy from a null pointer is undefined, even of 0 bytes (SOAP's [steps, 0])
    if (dtype == "F64") {
      out.resize(bytes.size() / 8);
      std::memcpy(out.data(), bytes.data(), bytes.size());
    } else if (dtype == "F32") {
      std::vector<float> f(bytes.size() / 4);
      std::memcpy(f.data(), bytes.data(), bytes.size());
      out.assign(f.begin(), f.end());
    } else {
      throw std::runtime_error("unsupported dtype " + dtype);
    }
    return out;
  }
};

// The raw bytes of a tensor as values of T (T's size must divide the byte count; the caller knows the dtype).
template <class T>
std::vector<T> as(const TensorRecord& t) {
  std::vector<T> out(t.bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), t.bytes.data(), out.size() * sizeof(T));
  return out;
}

struct SafetensorsFile {
  nlohmann::json metadata;
  std::map<std::string, TensorRecord> tensors;
};

inline SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<unsigned char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() < 8) throw std::runtime_error(path + ": shorter than its header length");
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | file[static_cast<std::size_t>(i)];
  if (header_size > file.size() - 8) throw std::runtime_error(path + ": header length past the end");
  const auto header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  const std::size_t data_start = 8 + header_size;
  SafetensorsFile out;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      out.metadata = entry;
      continue;
    }
    TensorRecord t;
    t.dtype = entry.at("dtype").get<std::string>();
    t.shape = entry.at("shape").get<std::vector<std::int64_t>>();
    const auto begin = entry.at("data_offsets").at(0).get<std::size_t>();
    const auto end = entry.at("data_offsets").at(1).get<std::size_t>();
    if (begin > end || data_start + end > file.size()) throw std::runtime_error(path + ": bad offsets for " + name);
    t.bytes.assign(file.begin() + static_cast<std::ptrdiff_t>(data_start + begin),
                   file.begin() + static_cast<std::ptrdiff_t>(data_start + end));
    out.tensors.emplace(name, std::move(t));
  }
  return out;
}

}  // namespace descent::testing
