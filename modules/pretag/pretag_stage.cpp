// SPDX-License-Identifier: GPL-2.0-or-later
// Stage "pretag": pre_tag_map tagging (tag, tag2, label, tos) and the per-pipeline
// pre_tag_filter / pre_tag2_filter / pre_tag_label_filter, which drop what they do not keep.
#include <sys/stat.h>               // stat

#include <memory>                   // std::shared_ptr
#include <string>                   // std::string

#include <flowacct/sdk/export.hpp>  // FLOWACCT_MODULE, sdk::Classifier, sdk::Context, sdk::Error

#include "pretag_map.hpp"           // pretag::PretagMap, TagFilter, LabelFilter

namespace {

using namespace flowacct;

constexpr fa_config_key kKeys[] = {
    {"pre_tag_map", FA_KEY_PATH, nullptr, "Tagging rules (pmacct's pre_tag_map language), reloaded on SIGUSR2"},
    {"pre_tag_filter", FA_KEY_LIST, nullptr, "Tags this pipeline keeps: N, a-b, -N (negation), 0 = untagged"},
    {"pre_tag2_filter", FA_KEY_LIST, nullptr, "As pre_tag_filter, on tag2"},
    {"pre_tag_label_filter", FA_KEY_LIST, nullptr, "Labels this pipeline keeps: label, -label, null = unlabelled"},
};

class PretagStage final : public sdk::Classifier {
public:
    explicit PretagStage(const sdk::Context& ctx)
        : ctx_(ctx), path_(ctx.config().str("pre_tag_map")), tag_filter_(filter<pretag::TagFilter>("pre_tag_filter")),
          tag2_filter_(filter<pretag::TagFilter>("pre_tag2_filter")),
          label_filter_(filter<pretag::LabelFilter>("pre_tag_label_filter")) {
        if (!path_.empty()) {
            stamp_ = stamp_of(path_);
            try {
                map_ = load();
            } catch (const std::exception& e) {
                throw sdk::Error(e.what(), "pre_tag_map");
            }
            ctx_.info("pre_tag_map loaded: " + path_ + ": " + describe());
        }
        matched_ = ctx.counter("pretag_matched");
        unmatched_ = ctx.counter("pretag_unmatched");
        filtered_ = ctx.counter("pretag_filtered");
        reloads_ = ctx.counter("pretag_reloads");
        reload_errors_ = ctx.counter("pretag_reload_errors");
    }

    // Pipeline thread, on the pipeline's private copy of the batch.
    void process(fa_record* records, std::uint32_t count, const std::uint8_t*) override {
        std::uint64_t matched = 0, unmatched = 0, filtered = 0;
        pretag::Result res;
        for (std::uint32_t i = 0; i < count; ++i) {
            fa_record& r = records[i];
            if (r.flags & FA_REC_DROP) continue;
            if (map_) {
                map_->evaluate(r, res);
                if (res.matched) {
                    ++matched;
                    if (res.tag_set) r.tag = res.tag;
                    if (res.tag2_set) r.tag2 = res.tag2;
                    if (res.tos_set) r.tos = res.tos;
                    if (res.label_count) r.label_id = label_of(res);
                } else {
                    ++unmatched;
                }
            }
            bool keep = (tag_filter_.empty() || tag_filter_.keeps(r.tag)) &&
                        (tag2_filter_.empty() || tag2_filter_.keeps(r.tag2)) &&
                        (label_filter_.empty() || label_filter_.keeps(ctx_.name_of(r.label_id)));
            if (!keep) {
                r.flags |= FA_REC_DROP;
                ++filtered;
            }
        }
        if (matched) sdk::Context::add(matched_, matched);
        if (unmatched) sdk::Context::add(unmatched_, unmatched);
        if (filtered) sdk::Context::add(filtered_, filtered);
    }

    // Pipeline thread. Re-reads the map when the file changed; a bad map keeps the current one.
    void reload() override {
        if (path_.empty()) return;
        Stamp now = stamp_of(path_);
        if (now == stamp_ && map_) return;
        stamp_ = now; // a broken file is reported once, not at every maps_refresh
        std::shared_ptr<pretag::PretagMap> fresh;
        try {
            fresh = load();
        } catch (const std::exception& e) {
            sdk::Context::add(reload_errors_);
            throw sdk::Error(std::string(e.what()) + " (the previous pre_tag_map stays in force)", "pre_tag_map");
        }
        map_ = std::move(fresh);
        sdk::Context::add(reloads_);
        ctx_.info("pre_tag_map reloaded: " + path_ + ": " + describe());
    }

private:
    struct Stamp {
        long long mtime_ns = -1, size = -1, inode = -1;
        bool operator==(const Stamp&) const = default;
    };
    static Stamp stamp_of(const std::string& path) {
        struct stat st {};
        if (::stat(path.c_str(), &st) != 0) return {};
        return Stamp{static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec,
                     static_cast<long long>(st.st_size), static_cast<long long>(st.st_ino)};
    }

    template <class F> F filter(const char* key) const {
        try {
            return F(ctx_.config().list(key));
        } catch (const std::runtime_error& e) {
            throw sdk::Error(e.what(), key);
        }
    }

    std::shared_ptr<pretag::PretagMap> load() {
        return pretag::PretagMap::load(path_, [this](std::string_view s) { return ctx_.intern(s); });
    }

    std::string describe() const {
        return std::to_string(map_->rules()) + " rules, " + std::to_string(map_->index_groups()) + " indexes, " +
               std::to_string(map_->scanned_rules()) + " rules scanned for every record";
    }

    // Labels of several matching rules (through jeq) join with ','; the last join is cached.
    std::uint32_t label_of(const pretag::Result& res) {
        if (res.label_count == 1) return res.labels[0];
        if (res.label_count == last_count_ && std::equal(res.labels, res.labels + res.label_count, last_labels_))
            return last_joined_;
        joined_.clear();
        for (std::uint32_t i = 0; i < res.label_count; ++i) {
            if (i) joined_.push_back(',');
            joined_ += ctx_.name_of(res.labels[i]);
        }
        last_count_ = res.label_count;
        std::copy(res.labels, res.labels + res.label_count, last_labels_);
        last_joined_ = ctx_.intern(joined_);
        return last_joined_;
    }

    sdk::Context ctx_;
    std::string path_;
    Stamp stamp_;
    std::shared_ptr<pretag::PretagMap> map_;
    pretag::TagFilter tag_filter_, tag2_filter_;
    pretag::LabelFilter label_filter_;
    std::string joined_;
    std::uint32_t last_labels_[8] = {};
    std::uint32_t last_count_ = 0, last_joined_ = 0;
    std::uint64_t* matched_ = nullptr;
    std::uint64_t* unmatched_ = nullptr;
    std::uint64_t* filtered_ = nullptr;
    std::uint64_t* reloads_ = nullptr;
    std::uint64_t* reload_errors_ = nullptr;
};

} // namespace

FLOWACCT_MODULE(Classifier, PretagStage, "pretag", "1.0.0", "pre_tag_map tagging and pre_tag filters", kKeys)
