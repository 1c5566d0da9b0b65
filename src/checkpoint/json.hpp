// A small, strict JSON reader and writer for checkpoint headers: RFC 8259 syntax, valid UTF-8 only,
// duplicate keys rejected, nesting limited (so hostile input can neither exhaust the stack nor hide a
// second value under a repeated key), and the number of values limited (so that it cannot exhaust memory
// or time either). Numbers are kept as their text; callers convert what they expect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace descent::detail::json {

inline constexpr std::size_t kMaxDepth = 64;
// At most this many values in one text (each costs about a hundred bytes parsed): a descent header
// holds about ten per tensor, so this allows 100 000 tensors and bounds what a hostile header costs.
inline constexpr std::size_t kMaxValues = std::size_t{1} << 20;

struct Value {
  // Declared here, defined in json.cpp: `members` holds pairs of Value, which must be complete there
  // (clang with libstdc++ refuses to instantiate them inside the class).
  Value();
  ~Value();
  Value(const Value&);
  Value(Value&&) noexcept;
  Value& operator=(const Value&);
  Value& operator=(Value&&) noexcept;

  enum class Kind : std::uint8_t { Null, False, True, Number, String, Array, Object };
  Kind kind = Kind::Null;
  std::string text;                                     // a string's value, a number's source text
  std::vector<Value> items;                             // an array's elements
  std::vector<std::pair<std::string, Value>> members;   // an object's members, in source order
  std::size_t offset = 0;                               // byte offset of the value's first character

  bool is(Kind k) const noexcept { return kind == k; }
  // The member named `key`, or nullptr.
  const Value* find(std::string_view key) const noexcept;
};

// Parses one JSON value filling the whole text (surrounding whitespace allowed). Throws
// descent::InvalidArgument with a message that says what is wrong and at which byte.
Value parse(std::string_view text);
// parse(), for a text that must hold an object: `where` (e.g. "run.safetensors: metadata 'training'")
// prefixes the message of a syntax error ("<where>: invalid JSON: ...") and of another kind of value
// ("<where> is not an object").
Value parse_object(std::string_view text, const std::string& where);

// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
// `bad_at`, when given, receives the offset of the first bad byte.
bool valid_utf8(std::string_view text, std::size_t* bad_at = nullptr);

// `text` as a JSON string literal, quotes included. The text must be valid UTF-8.
std::string quote(std::string_view text);

// A non-negative integer number (no sign, fraction or exponent) that fits in 64 bits; false otherwise.
bool to_uint64(const Value& value, std::uint64_t& out);

// A double written as text, the whole text ("0.001", "1e-08", "inf"): how descent's metadata stores
// numbers, so that they round-trip exactly (format_number writes them). False otherwise.
bool to_double(std::string_view text, double& out);
// The same for a JSON string value; false for any other kind of value.
bool to_double(const Value& value, double& out);

}  // namespace descent::detail::json
