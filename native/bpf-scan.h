/* The BPF scanner's entry point (native/bpf-scan.c), registered by limbo.c when built with LIMBO_BPF. */
#ifndef LIMBO_BPF_SCAN_H
#define LIMBO_BPF_SCAN_H
#include <node_api.h>

napi_value bpf_scan_fds(napi_env env, napi_callback_info info);

#endif
