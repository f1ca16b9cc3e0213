// Names of the core's enum values, spelled as the Python API spells them: one table per enum,
// next to the enum, read by error messages here and by the bindings (which export each table as
// a Python enum), so that no code is written twice.
#pragma once

#include <cstddef>
#include <string>

namespace xplain {

/// One value of an enum and its name.
template <typename Enum>
struct NamedValue {
  const char* name;
  Enum value;
};

/// The name of `value` in `table`, or "<code N>" for a value the table does not list.
template <typename Enum, size_t N>
std::string name_of(const NamedValue<Enum> (&table)[N], Enum value) {
  for (const auto& entry : table)
    if (entry.value == value) return entry.name;
  return "<code " + std::to_string(static_cast<long long>(value)) + ">";
}

/// Whether `table` lists `value` (a C++ caller may cast any integer to the enum).
template <typename Enum, size_t N>
bool is_listed(const NamedValue<Enum> (&table)[N], Enum value) {
  for (const auto& entry : table)
    if (entry.value == value) return true;
  return false;
}

}  // namespace xplain
