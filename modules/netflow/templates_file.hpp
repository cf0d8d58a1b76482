// SPDX-License-Identifier: GPL-2.0-or-later
// nfacctd_templates_file: v9/IPFIX templates kept across restarts, one template per line.
#pragma once

#include <string> // std::string
#include <vector> // std::vector

#include "netflow_template.hpp" // TemplateDef

namespace flowacct::netflow {

struct TemplatesLoad {
    std::vector<TemplateDef> templates;
    std::size_t bad_lines = 0; // malformed, truncated or foreign lines, skipped
    bool missing = false;      // the file does not exist (first start)
    std::string error;         // it exists but cannot be read
};

/// Reads `path`. Never throws on content: a corrupt or truncated file yields the lines that
/// parse and a count of the others. Called at setup on the main thread.
TemplatesLoad load_templates(const std::string& path);

/// Writes every template to `path` atomically (a temporary file renamed over it), so a crash
/// mid-write leaves the previous file. Returns "" on success, else what failed (the caller
/// logs it as a warning). Called on an input thread under the caller's lock.
std::string save_templates(const std::string& path, const std::vector<TemplateDef>& templates);

} // namespace flowacct::netflow
