// SPDX-License-Identifier: GPL-2.0-or-later
// nfacctd_templates_file reading and atomic writing.
#include "templates_file.hpp"

#include <cerrno>   // errno
#include <cstdio>   // std::fopen, std::fputs, std::rename
#include <cstring>  // std::strerror
#include <fstream>  // std::ifstream

namespace flowacct::netflow {

namespace {
constexpr const char* kHeader = "# flowacct netflow templates v1";
constexpr std::size_t kMaxLineBytes = 1 << 20;
} // namespace

TemplatesLoad load_templates(const std::string& path) {
    TemplatesLoad out;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        if (errno == ENOENT) out.missing = true;
        else out.error = std::strerror(errno);
        return out;
    }
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line == kHeader) continue;
        TemplateDef def;
        // A line cut by a crash or a full disk has no newline and fails to parse: skipped.
        if (line.size() > kMaxLineBytes || !parse_line(line, def)) {
            ++out.bad_lines;
            continue;
        }
        out.templates.push_back(std::move(def));
    }
    return out;
}

std::string save_templates(const std::string& path, const std::vector<TemplateDef>& templates) {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return "cannot write " + tmp + ": " + std::strerror(errno);
    bool ok = std::fprintf(f, "%s\n", kHeader) > 0;
    for (const TemplateDef& def : templates) {
        if (!ok) break;
        ok = std::fputs((to_line(def) + "\n").c_str(), f) >= 0;
    }
    const int err = errno;
    if (std::fclose(f) != 0 || !ok) {
        std::remove(tmp.c_str());
        return "cannot write " + tmp + ": " + std::strerror(ok ? errno : err);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const std::string why = std::strerror(errno);
        std::remove(tmp.c_str());
        return "cannot rename " + tmp + " to " + path + ": " + why;
    }
    return {};
}

} // namespace flowacct::netflow
