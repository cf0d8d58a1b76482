// SPDX-License-Identifier: GPL-2.0-or-later
// The configuration model: pmacct-style files and YAML both load into it; the command line
// overrides it; pipelines and inputs read their effective values from it.
#pragma once

#include <map>          // std::map
#include <optional>     // std::optional
#include <stdexcept>    // std::runtime_error
#include <string>       // std::string
#include <vector>       // std::vector

namespace flowacct::host {

/// A configuration error, already formatted as `file:line: message`.
class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Where a value came from, for error messages.
struct Origin {
    std::string file; // "<command line>" for switches
    int line = 0;
    std::string where() const { return line > 0 ? file + ":" + std::to_string(line) : file; }
};

struct Setting {
    std::string value;
    Origin origin;
};

/// A boolean host key (true/false, yes/no, on/off, 1/0): its value, or `fallback` when unset.
/// Throws ConfigError naming the line.
bool setting_flag(const Setting* s, const char* key, bool fallback);

/// `memory[a]` in `plugins:` or `netflow[nf]` in `inputs:`.
struct Declaration {
    std::string module;   // module name, e.g. "memory"
    std::string instance; // instance name, e.g. "a"; pmacct's default_<module> when unnamed
    Origin origin;
};

class ConfigModel {
public:
    /// Sets `key` (lower case) globally, or for `instance` when it is not empty. A later setting of
    /// the same key and instance replaces the earlier one.
    void set(const std::string& key, const std::string& instance, const std::string& value, const Origin& origin);
    /// Command-line override: the value applies everywhere, replacing global and per-instance settings.
    void override_all(const std::string& key, const std::string& value);

    /// The effective value of `key` for `instance`: its own setting, else the global one.
    const Setting* find(const std::string& key, const std::string& instance = {}) const;
    const Setting* find_global(const std::string& key) const;

    /// All settings, for validation and printing: key -> (instance or "" -> setting).
    const std::map<std::string, std::map<std::string, Setting>>& all() const { return settings_; }

    /// Parses `plugins` and `inputs` into declarations. Throws ConfigError.
    std::vector<Declaration> plugins() const;
    std::vector<Declaration> inputs() const;

    /// Normalized YAML: globals, then one map per pipeline/input instance.
    std::string to_yaml() const;

private:
    std::map<std::string, std::map<std::string, Setting>> settings_;
};

/// Lower-cases ASCII.
std::string to_lower(std::string s);
/// Trims blanks at both ends.
std::string trim(const std::string& s);
/// Splits a comma list, trimming items and dropping empty ones.
std::vector<std::string> split_list(const std::string& s);

/// Parses `memory[a], pgsql` into declarations; unnamed ones get `default_<module>`.
std::vector<Declaration> parse_declarations(const std::string& value, const Origin& origin);

/// pmacct syntax: `key: value`, `key[instance]: value`, `!`/`#` comment lines.
void load_pmacct_text(ConfigModel& model, const std::string& text, const std::string& file);
/// YAML: the same keys as a map; sequences join into comma lists; `key[instance]` keys and a
/// `pipelines:` / `inputs_config:` map of instance -> keys.
void load_yaml_text(ConfigModel& model, const std::string& text, const std::string& file);
/// Reads a file, choosing the spelling from its extension (.yaml/.yml) or content.
void load_file(ConfigModel& model, const std::string& path);

/// The known key nearest to `key` by edit distance, if close enough to be a likely typo.
std::optional<std::string> nearest_key(const std::string& key, const std::vector<std::string>& known);

} // namespace flowacct::host
