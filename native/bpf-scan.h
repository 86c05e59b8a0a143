/* The BPF scanner's entry point (native/bpf-scan.c), registered by limbo.c when built with LIMBO_BPF. */
#ifndef LIMBO_BPF_SCAN_H
#define LIMBO_BPF_SCAN_H
#include <node_api.h>
#include <stdarg.h>

#include <bpf/libbpf.h>

napi_value bpf_scan_fds(napi_env env, napi_callback_info info);
napi_value bpf_start_fd_scan(napi_env env, napi_callback_info info);
napi_value bpf_take_fd_candidates(napi_env env, napi_callback_info info);

/* libbpf's print callback for both loaders: limbo reports the errno and falls back to /proc instead. */
int limbo_bpf_quiet(enum libbpf_print_level level, const char *format, va_list args);

#endif
