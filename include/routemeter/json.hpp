// JSON string literals for everything routemeter writes as JSON: the access
// log's JSON lines, GET /config and GET /version. Stateless; any thread.
#pragma once

#include <string>
#include <string_view>

namespace routemeter {

// Appends `text` to `out` as a JSON string literal, quotes included (RFC 8259
// section 7): `"` and `\` are backslash-escaped, \b \f \n \r \t use their
// short forms, every other control character and DEL become \u00XX. Other
// bytes, UTF-8 included, pass through unchanged.
void append_json_string(std::string& out, std::string_view text);

}  // namespace routemeter
