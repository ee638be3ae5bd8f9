// Json: a small JSON reader (RFC 8259) for what a channel reads as JSON: service configs from a
// channel option or from DNS TXT records. A parsed document is a tree of Json values; objects
// keep their members in order (duplicate keys are an error, as gRPC's parser has it). Pure
// functions, no I/O; thread-compatible values.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace polyrpc {

class Json {
 public:
  enum Type { kNull, kBool, kNumber, kString, kArray, kObject };

  Json() = default;
  Type type() const { return type_; }
  bool is_null() const { return type_ == kNull; }
  bool is_bool() const { return type_ == kBool; }
  bool is_number() const { return type_ == kNumber; }
  bool is_string() const { return type_ == kString; }
  bool is_array() const { return type_ == kArray; }
  bool is_object() const { return type_ == kObject; }

  bool bool_value() const { return bool_; }
  double number() const { return number_; }
  // The number as written ("1.5", "10"): integers and decimals are checked from the text.
  const std::string& number_text() const { return string_; }
  const std::string& string_value() const { return string_; }
  const std::vector<Json>& array() const { return array_; }
  const std::vector<std::pair<std::string, Json>>& object() const { return object_; }
  // The member named key of an object, or null if there is none (or this is not an object).
  const Json* Find(std::string_view key) const;

  // Parses a whole document (surrounding whitespace allowed). Nesting deeper than 64 levels is
  // refused, so hostile input cannot exhaust the stack. Returns false and *error on bad input.
  static bool Parse(std::string_view text, Json* out, std::string* error);

 private:
  friend class JsonParser;
  Type type_ = kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<Json> array_;
  std::vector<std::pair<std::string, Json>> object_;
};

const char* JsonTypeName(Json::Type t);

}  // namespace polyrpc
