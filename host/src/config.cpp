// SPDX-License-Identifier: GPL-2.0-or-later
// Configuration parsing: pmacct's line syntax and YAML into one ConfigModel.
#include "config.hpp"

#include <algorithm>   // std::min
#include <cctype>      // std::tolower, std::isalnum
#include <fstream>     // std::ifstream
#include <set>         // std::set
#include <sstream>     // std::ostringstream

#include <yaml-cpp/yaml.h> // YAML::Load, YAML::Node

#include <flowacct/sdk/module.hpp> // sdk::parse_bool

namespace flowacct::host {

bool setting_flag(const Setting* s, const char* key, bool fallback) {
    if (!s) return fallback;
    bool on = fallback;
    if (!sdk::parse_bool(s->value, on))
        throw ConfigError(s->origin.where() + ": " + key + ": expected true or false, got '" + s->value + "'");
    return on;
}

std::string to_lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    const char* ws = " \t\r\n";
    auto b = s.find_first_not_of(ws);
    if (b == std::string::npos) return {};
    auto e = s.find_last_not_of(ws);
    return s.substr(b, e - b + 1);
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : s) {
        if (c == ',') {
            if (auto t = trim(cur); !t.empty()) out.push_back(t);
            cur.clear();
        } else {
            cur.push_back(c);
        }
    }
    if (auto t = trim(cur); !t.empty()) out.push_back(t);
    return out;
}

namespace {

bool valid_name(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
    return true;
}

// Splits `key[instance]` into its parts; throws on unbalanced or nested brackets.
void split_key(const std::string& raw, const Origin& origin, std::string& key, std::string& instance) {
    std::string k = trim(raw);
    auto open = k.find('[');
    if (open == std::string::npos) {
        if (k.find(']') != std::string::npos)
            throw ConfigError(origin.where() + ": unbalanced ']' in key '" + k + "'; expected 'key[instance]: value'");
        key = to_lower(k);
        instance.clear();
    } else {
        auto close = k.find(']', open);
        if (close == std::string::npos || close != k.size() - 1 || k.find('[', open + 1) != std::string::npos)
            throw ConfigError(origin.where() + ": malformed key '" + k + "'; expected 'key[instance]: value'");
        key = to_lower(trim(k.substr(0, open)));
        instance = trim(k.substr(open + 1, close - open - 1));
        if (!valid_name(instance))
            throw ConfigError(origin.where() + ": bad instance name '" + instance +
                              "' in key '" + k + "'; expected letters, digits, '_', '-' or '.'");
    }
    if (key.empty())
        throw ConfigError(origin.where() + ": empty key; expected 'key: value'");
    for (char c : key)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
            throw ConfigError(origin.where() + ": bad key '" + key + "'; expected letters, digits and '_'");
}

} // namespace

void ConfigModel::set(const std::string& key, const std::string& instance, const std::string& value,
                      const Origin& origin) {
    settings_[key][instance] = Setting{value, origin};
}

void ConfigModel::override_all(const std::string& key, const std::string& value) {
    auto& per = settings_[key];
    per.clear();
    per[""] = Setting{value, Origin{"<command line>", 0}};
}

const Setting* ConfigModel::find(const std::string& key, const std::string& instance) const {
    auto it = settings_.find(key);
    if (it == settings_.end()) return nullptr;
    if (!instance.empty()) {
        auto own = it->second.find(instance);
        if (own != it->second.end()) return &own->second;
    }
    auto global = it->second.find("");
    return global == it->second.end() ? nullptr : &global->second;
}

const Setting* ConfigModel::find_global(const std::string& key) const { return find(key, {}); }

std::vector<Declaration> parse_declarations(const std::string& value, const Origin& origin) {
    std::vector<Declaration> out;
    std::set<std::string> names;
    for (const auto& item : split_list(value)) {
        Declaration d;
        d.origin = origin;
        auto open = item.find('[');
        if (open == std::string::npos) {
            d.module = to_lower(item);
            d.instance = "default_" + d.module;
        } else {
            auto close = item.find(']', open);
            if (close != item.size() - 1)
                throw ConfigError(origin.where() + ": malformed entry '" + item + "'; expected 'module[name]'");
            d.module = to_lower(trim(item.substr(0, open)));
            d.instance = trim(item.substr(open + 1, close - open - 1));
        }
        if (!valid_name(d.module) || !valid_name(d.instance))
            throw ConfigError(origin.where() + ": bad entry '" + item + "'; expected 'module' or 'module[name]'");
        if (!names.insert(d.instance).second)
            throw ConfigError(origin.where() + ": the name '" + d.instance + "' is used twice; names must be unique");
        out.push_back(d);
    }
    return out;
}

std::vector<Declaration> ConfigModel::plugins() const {
    const Setting* s = find_global("plugins");
    if (!s) return {};
    return parse_declarations(s->value, s->origin);
}

std::vector<Declaration> ConfigModel::inputs() const {
    const Setting* s = find_global("inputs");
    if (!s) return {};
    return parse_declarations(s->value, s->origin);
}

namespace {

std::string yaml_scalar(const std::string& v) {
    bool plain = !v.empty();
    for (char c : v)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/' ||
              c == ',' || c == ' ' || c == '%'))
            plain = false;
    if (plain && (v.front() == ' ' || v.back() == ' ' || v.front() == '-' || v.front() == '%')) plain = false;
    if (plain) {
        // Leave the few words YAML would read as something other than a string quoted only if
        // they must round-trip as text; booleans and numbers read back the same either way.
        return v.find(", ") != std::string::npos || v.find(',') != std::string::npos ? "\"" + v + "\"" : v;
    }
    std::string out = "\"";
    for (char c : v) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + "\"";
}

} // namespace

std::string ConfigModel::to_yaml() const {
    std::ostringstream out;
    out << "# flowacct configuration, normalized\n";
    std::map<std::string, std::map<std::string, std::string>> per_instance;
    for (const auto& [key, per] : settings_) {
        for (const auto& [instance, setting] : per) {
            if (instance.empty())
                out << key << ": " << yaml_scalar(setting.value) << "\n";
            else
                per_instance[instance][key] = setting.value;
        }
    }
    if (!per_instance.empty()) {
        out << "instances:\n";
        for (const auto& [instance, keys] : per_instance) {
            out << "  " << instance << ":\n";
            for (const auto& [key, value] : keys) out << "    " << key << ": " << yaml_scalar(value) << "\n";
        }
    }
    return out.str();
}

void load_pmacct_text(ConfigModel& model, const std::string& text, const std::string& file) {
    std::istringstream in(text);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
        ++number;
        Origin origin{file, number};
        std::string t = trim(line);
        if (t.empty() || t[0] == '!' || t[0] == '#') continue;
        if (t.size() > 10240)
            throw ConfigError(origin.where() + ": line longer than 10240 bytes");
        auto colon = t.find(':');
        if (colon == std::string::npos)
            throw ConfigError(origin.where() + ": expected 'key: value' or 'key[instance]: value', got '" + t + "'");
        std::string key, instance;
        split_key(t.substr(0, colon), origin, key, instance);
        std::string value = trim(t.substr(colon + 1));
        if (value.empty())
            throw ConfigError(origin.where() + ": key '" + key + "' has no value; expected 'key: value'");
        model.set(key, instance, value, origin);
    }
}

namespace {

std::string node_value(const YAML::Node& n, const Origin& origin, const std::string& key) {
    if (n.IsScalar()) return n.Scalar();
    if (n.IsSequence()) {
        std::string out;
        for (const auto& item : n) {
            if (!item.IsScalar())
                throw ConfigError(origin.where() + ": key '" + key + "': expected a list of plain values");
            if (!out.empty()) out += ", ";
            out += item.Scalar();
        }
        return out;
    }
    if (n.IsNull())
        throw ConfigError(origin.where() + ": key '" + key + "' has no value; expected 'key: value'");
    throw ConfigError(origin.where() + ": key '" + key + "': expected a value or a list, got a map");
}

void load_yaml_map(ConfigModel& model, const YAML::Node& map, const std::string& file, const std::string& instance) {
    for (const auto& kv : map) {
        Origin origin{file, kv.first.Mark().line + 1};
        if (!kv.first.IsScalar()) throw ConfigError(origin.where() + ": expected a key");
        std::string raw = kv.first.Scalar();
        std::string lowered = to_lower(trim(raw));
        if (instance.empty() && (lowered == "instances" || lowered == "pipelines") && kv.second.IsMap()) {
            for (const auto& inst : kv.second) {
                Origin io{file, inst.first.Mark().line + 1};
                std::string name = inst.first.Scalar();
                if (!valid_name(name))
                    throw ConfigError(io.where() + ": bad instance name '" + name + "'");
                if (!inst.second.IsMap())
                    throw ConfigError(io.where() + ": instance '" + name + "': expected a map of keys");
                load_yaml_map(model, inst.second, file, name);
            }
            continue;
        }
        std::string key, inst;
        split_key(raw, origin, key, inst);
        if (!instance.empty() && !inst.empty())
            throw ConfigError(origin.where() + ": key '" + raw + "' inside instance '" + instance +
                              "' cannot name another instance");
        model.set(key, instance.empty() ? inst : instance, node_value(kv.second, origin, key), origin);
    }
}

} // namespace

void load_yaml_text(ConfigModel& model, const std::string& text, const std::string& file) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    if (root.IsNull()) return;
    if (!root.IsMap()) throw ConfigError(file + ":1: expected a map of 'key: value'");
    load_yaml_map(model, root, file, {});
}

void load_file(ConfigModel& model, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(path + ": cannot read the configuration file");
    std::ostringstream buf;
    buf << in.rdbuf();
    std::string text = buf.str();
    auto ends_with = [&](const char* suffix) {
        std::string s(suffix);
        return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
    };
    if (ends_with(".yaml") || ends_with(".yml")) load_yaml_text(model, text, path);
    else load_pmacct_text(model, text, path);
}

std::optional<std::string> nearest_key(const std::string& key, const std::vector<std::string>& known) {
    std::size_t best = std::string::npos;
    std::string best_key;
    for (const auto& k : known) {
        // Levenshtein distance, two rows.
        std::vector<std::size_t> prev(k.size() + 1), cur(k.size() + 1);
        for (std::size_t j = 0; j <= k.size(); ++j) prev[j] = j;
        for (std::size_t i = 1; i <= key.size(); ++i) {
            cur[0] = i;
            for (std::size_t j = 1; j <= k.size(); ++j) {
                std::size_t sub = prev[j - 1] + (key[i - 1] == k[j - 1] ? 0 : 1);
                cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
            }
            std::swap(prev, cur);
        }
        if (prev[k.size()] < best) {
            best = prev[k.size()];
            best_key = k;
        }
    }
    if (best_key.empty()) return std::nullopt;
    std::size_t limit = std::max<std::size_t>(2, key.size() / 3);
    if (best > limit) return std::nullopt;
    return best_key;
}

} // namespace flowacct::host
