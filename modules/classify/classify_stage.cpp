// SPDX-License-Identifier: GPL-2.0-or-later
// Classifier-kind module "classify": labels bidirectional streams with an application class
// from l7-filter regex patterns and shared-object classifiers found in the `classifiers` directory.
#include <algorithm>     // std::sort, std::max, std::min
#include <cstdint>       // std::uint8_t .. std::uint64_t
#include <cstring>       // std::memset, std::strlen
#include <filesystem>    // std::filesystem::directory_iterator
#include <memory>        // std::unique_ptr
#include <random>        // std::random_device
#include <string>        // std::string
#include <unordered_map> // std::unordered_map
#include <vector>        // std::vector

#include <flowacct/classifier.h>   // fa_classifier_*
#include <flowacct/sdk/export.hpp> // FLOWACCT_MODULE, sdk::Classifier

#include "pattern_set.hpp"    // PatternSet, parse_pattern_file
#include "so_classifiers.hpp" // SharedClassifier
#include "stream_table.hpp"   // StreamTable, StatePool, make_key

namespace {

namespace fs = std::filesystem;
namespace cls = flowacct::classify;
using flowacct::sdk::Context;
using flowacct::sdk::Error;

constexpr fa_config_key kKeys[] = {
    {"classifiers", FA_KEY_PATH, nullptr,
     "Directory of l7-filter .pat patterns and .so classifiers, loaded in alphabetical order"},
    {"classifier_tentatives", FA_KEY_INT, "5",
     "Payload packets of a stream (both directions) offered to classifiers before giving up"},
    {"classifier_table_num", FA_KEY_INT, "65536",
     "Streams the classification table holds; packets of streams beyond it stay unknown (counted)"},
    {"classifier_idle_timeout", FA_KEY_DURATION, "60",
     "Seconds a stream may be idle before it is forgotten (10 s after a TCP FIN or RST)"},
};

constexpr std::uint64_t kClosingIdleUs = 10'000'000;
constexpr std::size_t kMaxSharedClassifiers = 64; // one bit each in Stream::live_mask
constexpr std::size_t kMaxLabels = 65536;          // distinct labels interned by one stage
constexpr std::uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;

std::uint32_t align16(std::uint32_t n) { return (n + 15u) & ~15u; }

/// Everything loaded from the classifiers directory. Replaced as a whole on reload.
struct Catalog {
    std::unique_ptr<cls::PatternSet> patterns;
    std::vector<std::uint32_t> pattern_class;            // class id per pattern of the set
    std::vector<std::unique_ptr<cls::SharedClassifier>> shared;
    std::vector<std::uint32_t> shared_class;             // default class id per shared classifier
    std::vector<std::uint32_t> state_offset;             // into a stream's state block
    std::uint32_t state_stride = 0;
    std::uint64_t all_live = 0;                          // live_mask of a new stream
    std::size_t loaded() const { return shared.size() + (patterns ? patterns->protocols().size() : 0); }
};

class ClassifyStage final : public flowacct::sdk::Classifier {
public:
    explicit ClassifyStage(const Context& ctx)
        : ctx_(ctx),
          dir_(ctx.config().str("classifiers")),
          tentatives_(static_cast<std::uint32_t>(ctx_.config().integer_in("classifier_tentatives", 1, 1000, 1))),
          table_(static_cast<std::uint32_t>(ctx_.config().integer_in("classifier_table_num", 1, 1 << 22, 1)), std::random_device{}()),
          idle_us_(ctx.config().duration_s("classifier_idle_timeout", 60) * 1'000'000ull) {
        if (dir_.empty()) throw Error("expected a directory of classifiers", "classifiers");
        c_streams_ = ctx.counter("streams_new");
        c_classified_ = ctx.counter("streams_classified");
        c_unclassified_ = ctx.counter("streams_unclassified");
        c_expired_ = ctx.counter("streams_expired");
        c_table_full_ = ctx.counter("stream_table_full");
        c_regex_oom_ = ctx.counter("regex_out_of_memory");
        c_labels_dropped_ = ctx.counter("labels_dropped");
        c_rejected_ = ctx.counter("classifiers_rejected");
        catalog_ = load_catalog();
        if (catalog_->loaded() == 0)
            throw Error("no usable .pat or .so classifier in " + dir_.string(), "classifiers");
        pool_ = std::make_unique<cls::StatePool>(catalog_->state_stride, table_.max_streams());
        slots_.reserve(1024);
        keys_.reserve(1024);
        hashes_.reserve(1024);
    }

    ~ClassifyStage() override { end_all_states(); }

    /// Pipeline thread, once per batch, on the pipeline's private copy of the records.
    void process(fa_record* records, std::uint32_t count, const std::uint8_t* payload) override {
        std::uint64_t now_us = 0;
        for (std::uint32_t i = 0; i < count; ++i) now_us = std::max(now_us, records[i].time_end_us);
        if (now_us == 0) now_us = ctx_.wall_us(); // an input without packet times
        now_us_ = std::max(now_us_, now_us);

        // Both may move streams: only here, between batches, so slot indices hold for the batch.
        table_.prepare(count);
        std::uint64_t expired = table_.sweep(now_us_, idle_us_, std::min(idle_us_, kClosingIdleUs), 64 + 2 * count,
                                             [this](cls::Stream& s) { free_state(s); });
        if (expired) Context::add(c_expired_, expired);

        slots_.assign(count, cls::kNoSlot);
        keys_.resize(count);
        hashes_.resize(count);
        // Keys and hashes first, prefetching each home slot, so the lookups below find most
        // slots in cache instead of waiting for memory one record at a time.
        for (std::uint32_t i = 0; i < count; ++i) {
            const fa_record& r = records[i];
            if (r.ip_version == 0 || (r.flags & FA_REC_FRAGMENT)) continue;
            keys_[i].key = cls::make_key(r, keys_[i].sender_is_lo);
            hashes_[i] = table_.hash(keys_[i].key);
            table_.prefetch(hashes_[i]);
        }
        std::uint64_t full = 0, fresh = 0;
        for (std::uint32_t i = 0; i < count; ++i) {
            fa_record& r = records[i];
            if (r.ip_version == 0 || (r.flags & FA_REC_FRAGMENT)) continue;
            const bool sender_is_lo = keys_[i].sender_is_lo;
            bool inserted = false;
            std::uint32_t slot = table_.find_or_insert(keys_[i].key, hashes_[i], inserted);
            if (slot == cls::kNoSlot) {
                ++full;
                continue;
            }
            cls::Stream& s = table_.at(slot);
            if (inserted) {
                ++fresh;
                // A SYN+ACK seen first comes from the responder.
                bool syn_ack = r.proto == 6 && (r.tcp_flags & (kTcpSyn | kTcpAck)) == (kTcpSyn | kTcpAck);
                s.initiator_is_lo = (sender_is_lo != syn_ack) ? 1 : 0;
                s.live_mask = catalog_->all_live;
            }
            s.last_seen_us = std::max(s.last_seen_us, r.time_end_us ? r.time_end_us : now_us);
            if (r.tcp_flags & (kTcpFin | kTcpRst)) s.closing = 1;
            const bool reply = (sender_is_lo ? 1 : 0) != s.initiator_is_lo;
            if (reply) r.flags |= FA_REC_DIR_REPLY;
            if (s.status == cls::StreamStatus::Pending && (r.flags & FA_REC_HAS_PAYLOAD) && r.payload_len > 0 && payload)
                classify(s, r, payload + r.payload_offset, r.payload_len, reply);
            slots_[i] = slot;
        }
        // A second pass so that packets of the batch before the deciding one get the class too.
        for (std::uint32_t i = 0; i < count; ++i) {
            if (slots_[i] == cls::kNoSlot) continue;
            const cls::Stream& s = table_.at(slots_[i]);
            if (s.class_id) records[i].class_id = s.class_id;
            if (s.label_id) records[i].label_id = s.label_id;
        }
        if (fresh) Context::add(c_streams_, fresh);
        if (full) {
            Context::add(c_table_full_, full);
            std::uint64_t mono = ctx_.monotonic_us();
            if (mono - last_full_log_us_ > 60'000'000ull || last_full_log_us_ == 0) {
                last_full_log_us_ = mono;
                ctx_.warn("stream table full (" + std::to_string(table_.max_streams()) +
                          " streams, classifier_table_num): " + std::to_string(full) +
                          " packets left unclassified in this batch");
            }
        }
    }

    /// Pipeline thread (SIGUSR2, maps_refresh): re-reads the directory. If nothing loads, the
    /// old classifiers stay. Streams already classified keep their class; pending ones start
    /// over with the new classifiers (their old state belongs to the old ones).
    void reload() override {
        auto fresh = load_catalog();
        if (fresh->loaded() == 0) throw Error(dir_.string() + ": no usable .pat or .so classifier; keeping the previous ones");
        auto pool = std::make_unique<cls::StatePool>(fresh->state_stride, table_.max_streams());
        end_all_states();
        table_.for_each([&](cls::Stream& s) {
            if (s.status == cls::StreamStatus::Pending) s.live_mask = fresh->all_live;
        });
        pool_ = std::move(pool);
        catalog_ = std::move(fresh);
        ctx_.info("reloaded " + std::to_string(catalog_->loaded()) + " classifiers from " + dir_.string());
    }

private:
    std::uint32_t class_id(const std::string& name) {
        auto it = class_ids_.find(name);
        if (it != class_ids_.end()) return it->second;
        std::uint32_t id = ctx_.intern(name);
        class_ids_.emplace(name, id);
        return id;
    }

    // Labels come from payload bytes: keep printable ASCII only, and bound how many distinct
    // ones this stage hands to the host's intern table.
    std::uint32_t label_id(const char* raw) {
        std::string label;
        for (std::size_t i = 0; i < FA_CLASSIFIER_LABEL_MAX && raw[i]; ++i)
            if (raw[i] > ' ' && raw[i] <= '~') label.push_back(raw[i]);
        if (label.empty()) return 0;
        auto it = label_ids_.find(label);
        if (it != label_ids_.end()) return it->second;
        if (label_ids_.size() >= kMaxLabels) {
            Context::add(c_labels_dropped_);
            return 0;
        }
        std::uint32_t id = ctx_.intern(label);
        label_ids_.emplace(std::move(label), id);
        return id;
    }

    void free_state(cls::Stream& s) {
        if (s.state_index == cls::kNoState) return;
        end_state(*catalog_, pool_->at(s.state_index));
        pool_->release(s.state_index);
        s.state_index = cls::kNoState;
    }

    // Lets each classifier release what its slice of a state block owns.
    static void end_state(const Catalog& c, std::uint8_t* block) {
        for (std::size_t j = 0; j < c.shared.size(); ++j) {
            const auto& d = c.shared[j]->descriptor();
            if (d.state_size && d.stream_end) d.stream_end(c.shared[j]->ctx(), block + c.state_offset[j]);
        }
    }

    // Ends every state block still held (reload, destruction): they belong to `catalog_`.
    void end_all_states() {
        table_.for_each([&](cls::Stream& s) {
            if (s.state_index != cls::kNoState) end_state(*catalog_, pool_->at(s.state_index));
            s.state_index = cls::kNoState;
        });
    }

    void finish(cls::Stream& s, std::uint32_t cls_id, std::uint32_t lbl_id) {
        free_state(s);
        s.class_id = cls_id;
        s.label_id = lbl_id;
        s.status = cls_id ? cls::StreamStatus::Classified : cls::StreamStatus::GaveUp;
        Context::add(cls_id ? c_classified_ : c_unclassified_);
    }

    // Offers one payload packet of a pending stream to the shared-object classifiers still
    // trying, then to the regex set.
    void classify(cls::Stream& s, const fa_record& r, const std::uint8_t* data, std::uint32_t len, bool reply) {
        Catalog& c = *catalog_;
        if (s.live_mask) {
            if (s.state_index == cls::kNoState && c.state_stride) s.state_index = pool_->acquire();
            std::uint8_t* block = s.state_index == cls::kNoState ? nullptr : pool_->at(s.state_index);
            fa_classifier_stream info{};
            info.struct_size = sizeof info;
            info.ip_version = r.ip_version;
            info.proto = r.proto;
            info.payload_packets = s.payload_packets;
            info.time_us = r.time_end_us;
            const bool sender_initiates = !reply;
            info.initiator_ip = sender_initiates ? r.src_ip : r.dst_ip;
            info.responder_ip = sender_initiates ? r.dst_ip : r.src_ip;
            info.initiator_port = sender_initiates ? r.src_port : r.dst_port;
            info.responder_port = sender_initiates ? r.dst_port : r.src_port;
            const auto dir = reply ? FA_CLASSIFIER_REPLY : FA_CLASSIFIER_ORIGINAL;
            for (std::size_t j = 0; j < c.shared.size(); ++j) {
                const std::uint64_t bit = 1ull << j;
                if (!(s.live_mask & bit)) continue;
                const auto& d = c.shared[j]->descriptor();
                void* state = nullptr;
                if (d.state_size) {
                    if (!block) continue; // no state to give (pool exhausted): skip this packet
                    state = block + c.state_offset[j];
                }
                std::memset(&result_, 0, sizeof result_);
                fa_classifier_verdict v = d.classify(c.shared[j]->ctx(), state, &info, data, len, dir, &result_);
                if (v == FA_CLASSIFIER_MATCH) {
                    result_.class_name[FA_CLASSIFIER_NAME_MAX - 1] = '\0';
                    result_.label[FA_CLASSIFIER_LABEL_MAX - 1] = '\0';
                    std::uint32_t id = c.shared_class[j];
                    if (result_.class_name[0]) {
                        std::string name;
                        for (const char* p = result_.class_name; *p; ++p)
                            if (*p > ' ' && *p <= '~') name.push_back(*p);
                        if (!name.empty()) id = class_id(name);
                    }
                    finish(s, id, label_id(result_.label));
                    return;
                }
                if (v == FA_CLASSIFIER_GIVE_UP) s.live_mask &= ~bit;
            }
        }
        if (c.patterns) {
            bool oom = false;
            int hit = c.patterns->match(data, len, oom);
            if (oom) Context::add(c_regex_oom_);
            if (hit >= 0) {
                finish(s, c.pattern_class[static_cast<std::size_t>(hit)], 0);
                return;
            }
        }
        ++s.payload_packets;
        if (s.payload_packets >= tentatives_ || (!s.live_mask && !c.patterns)) finish(s, 0, 0);
    }

    std::unique_ptr<Catalog> load_catalog() {
        std::error_code ec;
        if (!fs::is_directory(dir_, ec))
            throw Error(dir_.string() + ": not a directory" + (ec ? " (" + ec.message() + ")" : std::string()),
                        "classifiers");
        std::vector<fs::path> files;
        for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
            const auto ext = it->path().extension();
            if (ext == ".pat" || ext == ".so") files.push_back(it->path());
        }
        if (ec) throw Error(dir_.string() + ": " + ec.message(), "classifiers");
        std::sort(files.begin(), files.end());

        auto c = std::make_unique<Catalog>();
        std::vector<cls::PatternFile> pats;
        std::vector<std::string> rejected;
        for (const auto& f : files) {
            try {
                if (f.extension() == ".pat") {
                    pats.push_back(cls::parse_pattern_file(f));
                } else {
                    if (c->shared.size() >= kMaxSharedClassifiers)
                        throw std::runtime_error(f.string() + ": more than " + std::to_string(kMaxSharedClassifiers) +
                                                 " shared-object classifiers");
                    c->shared.push_back(cls::SharedClassifier::load(f, dir_));
                }
            } catch (const std::exception& e) {
                rejected.push_back(e.what());
            }
        }
        if (!pats.empty()) {
            c->patterns = std::make_unique<cls::PatternSet>(pats, rejected);
            for (const auto& name : c->patterns->protocols()) c->pattern_class.push_back(class_id(name));
        }
        for (std::size_t j = 0; j < c->shared.size(); ++j) {
            const auto& d = c->shared[j]->descriptor();
            c->shared_class.push_back(class_id(d.protocol));
            c->state_offset.push_back(c->state_stride);
            c->state_stride += align16(d.state_size);
            c->all_live |= 1ull << j;
        }
        for (const auto& why : rejected) {
            ctx_.error("classifier refused: " + why);
            Context::add(c_rejected_);
        }
        std::string names;
        for (const auto& s : c->shared) names += (names.empty() ? "" : " ") + std::string(s->descriptor().protocol) + "(.so)";
        if (c->patterns)
            for (const auto& p : c->patterns->protocols()) names += (names.empty() ? "" : " ") + p;
        ctx_.info("classifiers from " + dir_.string() + ": " + (names.empty() ? "none" : names));
        return c;
    }

    Context ctx_;
    fs::path dir_;
    std::uint32_t tentatives_;
    cls::StreamTable table_;
    std::uint64_t idle_us_;
    std::unique_ptr<Catalog> catalog_;
    std::unique_ptr<cls::StatePool> pool_;
    struct BatchKey {
        cls::StreamKey key;
        bool sender_is_lo;
    };
    std::vector<std::uint32_t> slots_;   // per record of the batch: its stream's slot
    std::vector<BatchKey> keys_;         // per record of the batch: its stream's key
    std::vector<std::uint64_t> hashes_;
    std::unordered_map<std::string, std::uint32_t> class_ids_;
    std::unordered_map<std::string, std::uint32_t> label_ids_;
    fa_classifier_result result_{};
    std::uint64_t now_us_ = 0;
    std::uint64_t last_full_log_us_ = 0;
    std::uint64_t* c_streams_;
    std::uint64_t* c_classified_;
    std::uint64_t* c_unclassified_;
    std::uint64_t* c_expired_;
    std::uint64_t* c_table_full_;
    std::uint64_t* c_regex_oom_;
    std::uint64_t* c_labels_dropped_;
    std::uint64_t* c_rejected_;
};

} // namespace

FLOWACCT_MODULE(Classifier, ClassifyStage, "classify", "1.0.0",
                "Application classes of bidirectional streams from regex patterns and shared-object classifiers", kKeys)
