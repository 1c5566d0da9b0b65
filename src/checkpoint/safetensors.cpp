// The checkpoint file: encoding and checking the safetensors layout (docs/checkpoint-format.md).
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "checkpoint/json.hpp"
#include "checkpoint/layout.hpp"
#include "descent/checkpoint.hpp"
#include "descent/error.hpp"

static_assert(std::endian::native == std::endian::little,
              "descent checkpoints hold little-endian bytes and descent copies them as they are");

namespace descent {

std::uint32_t detail::crc32_update(std::uint32_t crc, const std::byte* data, std::size_t n) {
  uLong c = crc;
  while (n > 0) {
    const auto piece = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(data), piece);
    data += piece;
    n -= piece;
  }
  return static_cast<std::uint32_t>(c);
}

namespace {

namespace json = detail::json;
using detail::crc32_update;

constexpr std::string_view kFormat = "descent.checkpoint";
// Version 1: F32, F64 and I64 tensors. Version 2 adds the state types BF16, F16, U8 and I32; a file that
// needs none of them is still written as version 1, so that older releases read it.
constexpr std::string_view kVersion = "2";
constexpr std::string_view kVersion1 = "1";
bool needs_version2(TensorType t) { return t != TensorType::F32 && t != TensorType::F64 && t != TensorType::I64; }
constexpr std::string_view kChecksumPrefix = "crc32:";

std::string hex8(std::uint32_t value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(8, '0');
  for (int i = 7; i >= 0; --i, value >>= 4) out[static_cast<std::size_t>(i)] = kHex[value & 0xF];
  return out;
}

// Element count of a shape, or false when it overflows 64 bits.
bool element_count(const std::vector<std::int64_t>& shape, std::uint64_t& count) {
  count = 1;
  for (const std::int64_t d : shape) {
    if (d < 0) return false;
    if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(d), &count)) return false;
  }
  return true;
}

bool type_from(std::string_view name, TensorType& type) {
  for (const TensorType t : {TensorType::F32, TensorType::F64, TensorType::I64, TensorType::BF16, TensorType::F16,
                             TensorType::U8, TensorType::I32}) {
    if (name_of(t) == name) {
      type = t;
      return true;
    }
  }
  return false;
}

void check_text(std::string_view text, std::string_view what) {
  std::size_t bad = 0;
  if (!json::valid_utf8(text, &bad)) {
    throw InvalidArgument("checkpoint: " + std::string(what) + " is not valid UTF-8 (byte " + std::to_string(bad) +
                          ")");
  }
}

}  // namespace

std::string_view name_of(TensorType type) noexcept {
  switch (type) {
    case TensorType::F32: return "F32";
    case TensorType::F64: return "F64";
    case TensorType::I64: return "I64";
    case TensorType::BF16: return "BF16";
    case TensorType::F16: return "F16";
    case TensorType::U8: return "U8";
    case TensorType::I32: return "I32";
  }
  return "?";
}

TensorType tensor_type(DType dtype) noexcept {
  switch (dtype) {
    case DType::Float32: return TensorType::F32;
    case DType::Float64: return TensorType::F64;
    case DType::BFloat16: return TensorType::BF16;
    case DType::Float16: return TensorType::F16;
    case DType::UInt8: return TensorType::U8;
    case DType::Int32: return TensorType::I32;
    case DType::Int64: break;
  }
  return TensorType::I64;
}

DType dtype_of(TensorType type) noexcept {
  switch (type) {
    case TensorType::F32: return DType::Float32;
    case TensorType::F64: return DType::Float64;
    case TensorType::BF16: return DType::BFloat16;
    case TensorType::F16: return DType::Float16;
    case TensorType::U8: return DType::UInt8;
    case TensorType::I32: return DType::Int32;
    case TensorType::I64: break;
  }
  return DType::Int64;
}

std::size_t size_of(TensorType type) noexcept { return size_of(dtype_of(type)); }

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out.append(i ? ", " : "").append(std::to_string(shape[i]));
  return out + "]";
}

bool Tensor::fits_shape() const noexcept {
  std::uint64_t count = 0;
  return element_count(shape, count) && count <= bytes.size() / size_of(type) && count * size_of(type) == bytes.size();
}

namespace {
template <class T>
TensorType type_of() {
  return tensor_type(dtype_of<T>());
}
}  // namespace

template <class T>
Tensor Tensor::of(std::span<const T> values, std::vector<std::int64_t> shape) {
  Tensor t;
  t.type = type_of<T>();
  t.shape = std::move(shape);
  t.bytes.resize(values.size_bytes());
  if (!values.empty()) std::memcpy(t.bytes.data(), values.data(), values.size_bytes());
  return t;
}

Tensor Tensor::scalar(std::int64_t value) { return of<std::int64_t>(std::span(&value, 1), {}); }
Tensor Tensor::scalar(double value) { return of<double>(std::span(&value, 1), {}); }

template <class T>
std::vector<T> Tensor::values(std::string_view what) const {
  if (type != type_of<T>()) {
    throw InvalidArgument(std::string(what) + " is " + std::string(name_of(type)) + ", expected " +
                          std::string(name_of(type_of<T>())));
  }
  if (bytes.size() % sizeof(T) != 0) {
    throw InvalidArgument(std::string(what) + " has " + std::to_string(bytes.size()) + " bytes, not a whole number of " +
                          std::string(name_of(type_of<T>())) + " elements");
  }
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

template Tensor Tensor::of<float>(std::span<const float>, std::vector<std::int64_t>);
template Tensor Tensor::of<double>(std::span<const double>, std::vector<std::int64_t>);
template Tensor Tensor::of<std::int64_t>(std::span<const std::int64_t>, std::vector<std::int64_t>);
template std::vector<float> Tensor::values<float>(std::string_view) const;
template std::vector<double> Tensor::values<double>(std::string_view) const;
template std::vector<std::int64_t> Tensor::values<std::int64_t>(std::string_view) const;
template Tensor Tensor::of<bfloat16>(std::span<const bfloat16>, std::vector<std::int64_t>);
template Tensor Tensor::of<float16>(std::span<const float16>, std::vector<std::int64_t>);
template Tensor Tensor::of<std::uint8_t>(std::span<const std::uint8_t>, std::vector<std::int64_t>);
template Tensor Tensor::of<std::int32_t>(std::span<const std::int32_t>, std::vector<std::int64_t>);
template std::vector<bfloat16> Tensor::values<bfloat16>(std::string_view) const;
template std::vector<float16> Tensor::values<float16>(std::string_view) const;
template std::vector<std::uint8_t> Tensor::values<std::uint8_t>(std::string_view) const;
template std::vector<std::int32_t> Tensor::values<std::int32_t>(std::string_view) const;

const std::string& StateDict::meta(const std::string& key) const {
  const auto it = metadata.find(key);
  if (it == metadata.end()) throw NotFound("checkpoint: no metadata '" + excerpt(key) + "'");
  return it->second;
}

const Tensor& StateDict::tensor(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end()) throw NotFound("checkpoint: no tensor '" + excerpt(name) + "'");
  return it->second;
}

std::vector<std::byte> encode_checkpoint(const StateDict& dict) {
  // Check everything first, against what decode_checkpoint accepts: whatever descent writes, it reads.
  // The header's JSON values, counted as the reader's parser counts them: the root object, the
  // __metadata__ object and its strings, and per tensor its object, dtype, shape array and entries,
  // data_offsets array and its two numbers.
  std::uint64_t values = 2;
  for (const auto& [name, t] : dict.tensors) {
    if (name.empty()) throw InvalidArgument("checkpoint: a tensor has an empty name");
    if (name == "__metadata__") throw InvalidArgument("checkpoint: '__metadata__' cannot name a tensor");
    check_text(name, "tensor name '" + excerpt(name) + "'");
    if (!t.fits_shape()) {
      throw InvalidArgument("checkpoint: tensor '" + excerpt(name) + "' has " + std::to_string(t.bytes.size()) +
                            " bytes, which does not match its shape " + shape_text(t.shape) + " of " +
                            std::string(name_of(t.type)));
    }
    values += 6 + t.shape.size();
  }
  std::map<std::string, std::string> metadata = dict.metadata;
  for (const auto& [key, value] : metadata) {
    check_text(key, "metadata key '" + excerpt(key) + "'");
    check_text(value, "metadata value of '" + excerpt(key) + "'");
  }
  metadata["format"] = kFormat;
  bool version2 = false;
  for (const auto& [name, t] : dict.tensors) version2 |= needs_version2(t.type);
  metadata["format_version"] = version2 ? kVersion : kVersion1;
  metadata["checksum"] = std::string(kChecksumPrefix) + "00000000";
  values += metadata.size();
  if (values > json::kMaxValues) {
    throw InvalidArgument("checkpoint: the header would hold " + std::to_string(values) + " JSON values (" +
                          std::to_string(dict.tensors.size()) + " tensors, " + std::to_string(metadata.size()) +
                          " metadata entries), more than the " + std::to_string(json::kMaxValues) +
                          " a checkpoint may hold (docs/checkpoint-format.md, Limits); nothing was written");
  }

  // 8-byte types first, then F32: every tensor starts aligned to its element size, as safetensors lays out.
  std::vector<const std::pair<const std::string, Tensor>*> order;
  for (const auto& entry : dict.tensors) order.push_back(&entry);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* a, const auto* b) { return size_of(a->second.type) > size_of(b->second.type); });

  std::string header = "{\"__metadata__\":{";
  std::size_t checksum_at = 0;
  bool first = true;
  for (const auto& [key, value] : metadata) {
    header.append(first ? "" : ",").append(json::quote(key)).append(":");
    if (key == "checksum") checksum_at = header.size() + 1 + kChecksumPrefix.size();
    header.append(json::quote(value));
    first = false;
  }
  header += "}";
  std::uint64_t offset = 0;
  for (const auto* entry : order) {
    const Tensor& t = entry->second;
    header.append(",").append(json::quote(entry->first)).append(":{\"dtype\":\"").append(name_of(t.type));
    header.append("\",\"shape\":[");
    for (std::size_t i = 0; i < t.shape.size(); ++i) header.append(i ? "," : "").append(std::to_string(t.shape[i]));
    header.append("],\"data_offsets\":[").append(std::to_string(offset)).append(",");
    offset += t.bytes.size();
    header.append(std::to_string(offset)).append("]}");
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  if (header.size() > detail::kMaxHeaderBytes) {
    throw InvalidArgument("checkpoint: the header would be " + std::to_string(header.size()) + " bytes, more than the " +
                          std::to_string(detail::kMaxHeaderBytes) +
                          " a checkpoint may hold (docs/checkpoint-format.md, Limits): long tensor names or metadata; "
                          "nothing was written");
  }

  std::vector<std::byte> file(8 + header.size() + offset);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i, n >>= 8) file[static_cast<std::size_t>(i)] = static_cast<std::byte>(n & 0xFF);
  std::memcpy(file.data() + 8, header.data(), header.size());
  std::byte* data = file.data() + 8 + header.size();
  for (const auto* entry : order) {
    const auto& bytes = entry->second.bytes;
    if (!bytes.empty()) std::memcpy(data, bytes.data(), bytes.size());
    data += bytes.size();
  }
  const std::string digits = hex8(crc32_update(0, file.data() + 8, file.size() - 8));
  std::memcpy(file.data() + 8 + checksum_at, digits.data(), 8);
  return file;
}

namespace detail {

std::uint64_t header_length(std::span<const std::byte, 8> first8, std::uint64_t rest, std::string_view where) {
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = header_size << 8 | std::to_integer<std::uint64_t>(first8[static_cast<std::size_t>(i)]);
  if (header_size > rest) {
    throw InvalidArgument(std::string(where) + ": header length " + std::to_string(header_size) +
                          " is larger than the rest of the file (" + std::to_string(rest) +
                          " bytes): truncated or not a safetensors file");
  }
  if (header_size > kMaxHeaderBytes) {
    throw InvalidArgument(std::string(where) + ": header length " + std::to_string(header_size) + " exceeds the " +
                          std::to_string(kMaxHeaderBytes) + "-byte limit");
  }
  return header_size;
}

CheckpointHeader parse_header(std::string_view header, std::uint64_t data_size, std::string_view where_) {
  const std::string where = std::string(where_) + ": ";
  const auto fail = [&](const std::string& what) -> void { throw InvalidArgument(where + what); };
  if (header.empty() || header.front() != '{') fail("the header does not start with '{': not a safetensors file");
  json::Value root;
  try {
    root = json::parse(header);
  } catch (const InvalidArgument& e) {
    fail(std::string("header: ") + e.what());
  }
  if (!root.is(json::Value::Kind::Object)) fail("the header is not a JSON object");

  CheckpointHeader out;
  StateDict& dict = out.dict;
  const json::Value* meta = root.find("__metadata__");
  if (!meta) fail("no __metadata__: not a descent checkpoint");
  if (!meta->is(json::Value::Kind::Object)) fail("__metadata__ is not an object");
  for (const auto& [key, value] : meta->members) {
    if (!value.is(json::Value::Kind::String)) fail("metadata '" + excerpt(key) + "' is not a string");
    dict.metadata[key] = value.text;
  }
  const auto format = dict.metadata.find("format");
  if (format == dict.metadata.end() || format->second != kFormat) {
    fail("not a descent checkpoint (metadata 'format' is " +
         (format == dict.metadata.end() ? std::string("missing") : "'" + excerpt(format->second) + "'") +
         ", expected '" + std::string(kFormat) + "')");
  }
  const auto version = dict.metadata.find("format_version");
  if (version == dict.metadata.end() || (version->second != kVersion && version->second != kVersion1)) {
    fail("unsupported checkpoint format version " +
         (version == dict.metadata.end() ? std::string("(missing)") : "'" + excerpt(version->second) + "'") +
         " (this build reads versions " + std::string(kVersion1) + " and " + std::string(kVersion) + ")");
  }
  const bool version1 = version->second == kVersion1;

  // Tensors: known dtype, a shape whose size fits, offsets inside the data that tile it exactly.
  for (const auto& [name, info] : root.members) {
    if (name == "__metadata__") continue;
    const std::string what = "tensor '" + excerpt(name) + "'";
    if (name.empty()) fail("a tensor has an empty name");
    if (!info.is(json::Value::Kind::Object)) fail(what + ": its entry is not an object");
    const json::Value* dtype = info.find("dtype");
    const json::Value* shape = info.find("shape");
    const json::Value* offsets = info.find("data_offsets");
    if (!dtype || !shape || !offsets || info.members.size() != 3) {
      fail(what + ": expected exactly the keys dtype, shape and data_offsets");
    }
    Tensor t;
    if (!dtype->is(json::Value::Kind::String) || !type_from(dtype->text, t.type) ||
        (version1 && needs_version2(t.type))) {
      fail(what + ": unsupported dtype " +
           (dtype->is(json::Value::Kind::String) ? "'" + excerpt(dtype->text) + "'" : "(not a string)") +
           (version1 ? " (format version 1 holds F32, F64 and I64)"
                     : " (descent reads F32, F64, I64, BF16, F16, U8 and I32)"));
    }
    if (!shape->is(json::Value::Kind::Array)) fail(what + ": shape is not an array");
    for (const json::Value& d : shape->items) {
      std::uint64_t v = 0;
      if (!json::to_uint64(d, v) || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        fail(what + ": shape entry '" + excerpt(d.text) + "' is not a non-negative 64-bit integer");
      }
      t.shape.push_back(static_cast<std::int64_t>(v));
    }
    std::uint64_t count = 0;
    if (!element_count(t.shape, count) || count > std::numeric_limits<std::uint64_t>::max() / size_of(t.type)) {
      fail(what + ": shape " + shape_text(t.shape) + " has more bytes than fit in 64 bits");
    }
    std::uint64_t begin = 0, end = 0;
    if (!offsets->is(json::Value::Kind::Array) || offsets->items.size() != 2 ||
        !json::to_uint64(offsets->items[0], begin) || !json::to_uint64(offsets->items[1], end)) {
      fail(what + ": data_offsets is not a pair of non-negative integers");
    }
    if (begin > end || end > data_size) {
      fail(what + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
           "] are out of range (the data has " + std::to_string(data_size) + " bytes)");
    }
    if (end - begin != count * size_of(t.type)) {
      fail(what + ": data_offsets span " + std::to_string(end - begin) + " bytes but shape " + shape_text(t.shape) +
           " of " + std::string(name_of(t.type)) + " needs " + std::to_string(count * size_of(t.type)));
    }
    const auto [it, fresh] = dict.tensors.emplace(name, std::move(t));
    out.extents.push_back({begin, end, &it->second});
  }
  std::sort(out.extents.begin(), out.extents.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const auto name_at = [&](std::size_t i) {
    for (const auto& [name, t] : dict.tensors) {
      if (&t == out.extents[i].tensor) return excerpt(name);
    }
    return std::string("?");
  };
  std::uint64_t covered = 0;
  for (std::size_t i = 0; i < out.extents.size(); ++i) {
    if (out.extents[i].begin < covered) {
      fail("tensors '" + name_at(i - 1) + "' and '" + name_at(i) + "' overlap in the data");
    }
    if (out.extents[i].begin > covered) {
      fail("bytes " + std::to_string(covered) + " to " + std::to_string(out.extents[i].begin) +
           " of the data belong to no tensor");
    }
    covered = out.extents[i].end;
  }
  if (covered != data_size) {
    fail("bytes " + std::to_string(covered) + " to " + std::to_string(data_size) + " of the data belong to no tensor");
  }

  // The checksum: CRC-32 of everything after the length, with its own 8 digits read as zeros.
  const std::string& checksum = dict.metadata["checksum"];
  const json::Value* checksum_value = meta->find("checksum");
  if (!checksum_value || checksum.size() != kChecksumPrefix.size() + 8 || !checksum.starts_with(kChecksumPrefix) ||
      checksum.find_first_not_of("0123456789abcdef", kChecksumPrefix.size()) != std::string::npos ||
      header.substr(checksum_value->offset, checksum.size() + 2) != "\"" + checksum + "\"") {
    fail("metadata 'checksum' is missing or not of the form \"crc32:\" and 8 lowercase hex digits");
  }
  const std::size_t digits_at = checksum_value->offset + 1 + kChecksumPrefix.size();
  static const std::byte kZeros[8] = {std::byte{'0'}, std::byte{'0'}, std::byte{'0'}, std::byte{'0'},
                                      std::byte{'0'}, std::byte{'0'}, std::byte{'0'}, std::byte{'0'}};
  const auto* bytes = reinterpret_cast<const std::byte*>(header.data());
  std::uint32_t crc = crc32_update(0, bytes, digits_at);
  crc = crc32_update(crc, kZeros, 8);
  out.header_crc = crc32_update(crc, bytes + digits_at + 8, header.size() - digits_at - 8);
  for (std::size_t i = kChecksumPrefix.size(); i < checksum.size(); ++i) {
    const char c = checksum[i];
    out.stated_crc = out.stated_crc << 4 | static_cast<std::uint32_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return out;
}

void check_crc(const CheckpointHeader& header, std::uint32_t crc, std::string_view where) {
  if (crc != header.stated_crc) {
    throw InvalidArgument(std::string(where) + ": checksum mismatch (the file says crc32:" + hex8(header.stated_crc) +
                          ", its contents give crc32:" + hex8(crc) + "): the file is corrupt");
  }
}

}  // namespace detail

StateDict decode_checkpoint(std::span<const std::byte> file, std::string_view source) {
  if (file.size() < 8) {
    throw InvalidArgument(std::string(source) + ": truncated: " + std::to_string(file.size()) +
                          " bytes, fewer than the 8 of the header length");
  }
  const std::uint64_t header_size = detail::header_length(file.first<8>(), file.size() - 8, source);
  const std::string_view header(reinterpret_cast<const char*>(file.data()) + 8, header_size);
  const std::span<const std::byte> data = file.subspan(8 + header_size);
  detail::CheckpointHeader parsed = detail::parse_header(header, data.size(), source);
  for (const auto& e : parsed.extents) {
    e.tensor->bytes.assign(data.begin() + static_cast<std::ptrdiff_t>(e.begin),
                           data.begin() + static_cast<std::ptrdiff_t>(e.end));
  }
  detail::check_crc(parsed, detail::crc32_update(parsed.header_crc, data.data(), data.size()), source);
  return std::move(parsed.dict);
}

}  // namespace descent
