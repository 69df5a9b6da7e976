// Identifying values (a child's name, CPR number, notes, titles, the interviewer, bookmark
// labels) enter `tillid` through a no-echo prompt on the terminal or a small JSON object read
// from a file or standard input, never through argv: any local user can read a running
// command's arguments in /proc/PID/cmdline (issue 10, class 8).
#pragma once

#include <CLI/CLI.hpp>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tillid/result.hpp"

namespace tillid::cli {

struct FieldSpec {
  std::string key;     // the JSON member name, e.g. "child_name"
  std::string prompt;  // what the terminal prompt asks for
  bool required = false;
};

// The values read, wiped when this goes out of scope. An optional field not given is empty.
class Fields {
 public:
  Fields() = default;
  ~Fields();
  Fields(Fields&&) = default;
  Fields& operator=(Fields&&) = default;
  Fields(const Fields&) = delete;
  Fields& operator=(const Fields&) = delete;

  std::string& operator[](const std::string& key) { return values_[key]; }

 private:
  std::map<std::string, std::string> values_;
};

// A subcommand's `--fields FILE|-` option, plus the identifying options it used to take on
// argv, still recognised (hidden) so that using one fails with a message saying what to do
// instead rather than CLI11's "argument not expected".
struct FieldsOption {
  std::optional<std::string> source;
  std::vector<std::pair<CLI::Option*, std::string>> refused;  // option, its old name
  std::vector<std::string> refused_values;
};

void add_fields_option(CLI::App* cmd, FieldsOption& opt, const std::vector<FieldSpec>& specs,
                       std::initializer_list<const char*> old_options);

// Fails (usage) if an old identifying option was given, naming it and the way to do it now;
// otherwise reads the fields: from the --fields source (a JSON object whose members are the
// specs' keys, all strings; unknown members are refused so a typo does not drop a value),
// else on the terminal without echo (an empty answer leaves an optional field out). With
// neither a source nor a terminal, a required field is an error naming --fields and optional
// fields stay empty: nothing ever waits for input that cannot come.
Result<Fields> read_fields(FieldsOption& opt, const std::vector<FieldSpec>& specs);

}  // namespace tillid::cli
