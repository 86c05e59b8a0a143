/* The handle ledger's BPF entry point (native/bpf-handles.c), registered by limbo.c when built with LIMBO_BPF. */
#ifndef LIMBO_BPF_HANDLES_H
#define LIMBO_BPF_HANDLES_H
#include <node_api.h>

napi_value bpf_start_handle_scan(napi_env env, napi_callback_info info);
napi_value bpf_scan_handles(napi_env env, napi_callback_info info);

#endif
