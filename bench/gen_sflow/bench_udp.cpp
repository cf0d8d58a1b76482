// SPDX-License-Identifier: GPL-2.0-or-later
// bench-sflow-udp: the input_sflow module end to end over loopback UDP. One thread sends the
// generator's workload as fast as it can; the module receives, decodes and submits batches to
// a host stub that counts them. Prints samples/s received and the kernel's drops.
#include <arpa/inet.h>   // htons, inet_pton
#include <netinet/in.h>  // sockaddr_in
#include <sys/socket.h>  // socket, sendto
#include <unistd.h>      // close

#include <atomic>        // std::atomic
#include <chrono>        // std::chrono
#include <cstdio>        // std::printf
#include <cstdlib>       // std::strtoull
#include <map>           // std::map
#include <string>        // std::string
#include <thread>        // std::thread
#include <vector>        // std::vector

#include <fake_host.hpp> // test::FakeHost, test::Instance, test::load_module
#include "workload.hpp"  // bench::Workload

namespace {

std::atomic<std::uint64_t> g_records{0};
fa_record g_records_buf[1024];
std::uint8_t g_payload[1024 * 512];
fa_batch g_batch{};

} // namespace

int main(int argc, char** argv) {
    const std::uint64_t samples = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
    flowacct::test::FakeHost host(std::map<std::string, std::string>{
        {"sfacctd_ip", "127.0.0.1"}, {"sfacctd_port", "0"}, {"sfacctd_pipe_size", "33554432"}});
    // The stub host reuses one batch and only counts: batch_submit is synchronous.
    fa_host_api api = *host.api();
    api.batch_acquire = [](void*) -> fa_batch* {
        g_batch.records = g_records_buf;
        g_batch.capacity = 1024;
        g_batch.count = 0;
        g_batch.payload = g_payload;
        g_batch.payload_capacity = sizeof g_payload;
        g_batch.payload_used = 0;
        return &g_batch;
    };
    api.batch_submit = [](void*, fa_batch* b) -> std::uint32_t {
        g_records.fetch_add(b->count, std::memory_order_relaxed);
        return b->count;
    };
    const fa_module_descriptor* d = flowacct::test::load_module("input_sflow.so");
    if (!d) {
        std::fprintf(stderr, "cannot load input_sflow.so\n");
        return 1;
    }
    void* inst = nullptr;
    fa_error err{};
    if (d->create(&api, &inst, &err) != FA_OK) {
        std::fprintf(stderr, "create failed: %s: %s\n", err.key, err.message);
        return 1;
    }
    int port = 0;
    for (const auto& l : host.logs)
        if (auto at = l.find("UDP port "); at != std::string::npos) port = std::stoi(l.substr(at + 9));
    const auto* ops = static_cast<const fa_input_ops*>(d->ops);
    std::thread runner([&] { ops->run(inst); });

    flowacct::sflow::bench::WorkloadOptions o;
    o.samples = samples;
    o.keys = 10000;
    o.samples_per_datagram = 8;
    flowacct::sflow::bench::Workload w(o);
    std::vector<flowacct::sflow::encode::Bytes> datagrams;
    flowacct::sflow::encode::Bytes dg;
    while (w.next(dg)) datagrams.push_back(dg);

    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in dst{};
    dst.sin_family = AF_INET;
    dst.sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    const auto start = std::chrono::steady_clock::now();
    for (const auto& b : datagrams)
        ::sendto(fd, b.data(), b.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst);
    const double send_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    // Let the receiver drain, then stop it (its partial batch is flushed on the way out).
    std::uint64_t last = ~0ull;
    while (g_records.load() != last) {
        last = g_records.load();
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ops->request_stop(inst);
    runner.join();
    const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - 0.2;
    std::printf("sent %zu datagrams (%llu samples) in %.3f s; received %llu samples (%.2f M samples/s over %.3f s); "
                "sock_drops %llu datagrams\n",
                datagrams.size(), static_cast<unsigned long long>(samples), send_s,
                static_cast<unsigned long long>(g_records.load()), g_records.load() / total_s / 1e6, total_s,
                static_cast<unsigned long long>(host.counter("sock_drops")));
    ::close(fd);
    d->destroy(inst);
    return 0;
}
