/*
 * The hot path of a limbo scan, in C: read every link of one fd directory and
 * stat only the " (deleted)" candidates, without a JS call per fd. Also the
 * kcmp(2) syscall, which has no glibc wrapper. limbo runs without this addon
 * (src/native.ts falls back to node:fs); it only makes the same work faster.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define DELETED_SUFFIX " (deleted)"
#define DELETED_LEN (sizeof(DELETED_SUFFIX) - 1)

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "limbo native: N-API call failed");      \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value make_error(napi_env env, int err) {
  napi_value result, code;
  const char *name = err == ENOENT || err == ESRCH || err == ENOTDIR ? "ENOENT"
                     : err == EACCES                                 ? "EACCES"
                     : err == EPERM                                  ? "EPERM"
                                                                     : "EIO";
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok) return NULL;
  if (napi_set_named_property(env, result, "error", code) != napi_ok) return NULL;
  return result;
}

static int set_number(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  if (napi_create_double(env, value, &v) != napi_ok) return -1;
  return napi_set_named_property(env, obj, key, v) == napi_ok ? 0 : -1;
}

/*
 * scanFdDir(dir: string): { count, candidates: [{ fd, target: Buffer|null, dev, ino, nlink, size, blocks, mode }] }
 *                       | { error: "ENOENT"|"EACCES"|"EPERM"|"EIO" }
 */
static napi_value scan_fd_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char dir[PATH_MAX];
  size_t dir_len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, NULL, "scanFdDir(dir)");
    return NULL;
  }
  CHECK(napi_get_value_string_utf8(env, argv[0], dir, sizeof dir - 32, &dir_len));

  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return make_error(env, errno);
  DIR *d = fdopendir(dfd);
  if (!d) {
    int err = errno;
    close(dfd);
    return make_error(env, err);
  }

  napi_value result, candidates;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_array(env, &candidates));
  uint32_t ncand = 0;
  double count = 0;
  static char target[PATH_MAX + 1];
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    count++;
    ssize_t n = readlinkat(dfd, de->d_name, target, sizeof target - 1);
    int too_long = n < 0 && errno == ENAMETOOLONG;
    if (n < 0 && !too_long) continue; /* closed while we looked: not an error */
    if (!too_long) {
      if ((size_t)n < DELETED_LEN || memcmp(target + n - DELETED_LEN, DELETED_SUFFIX, DELETED_LEN) != 0) continue;
    }
    struct stat st;
    if (fstatat(dfd, de->d_name, &st, 0) < 0) continue;
    if (too_long && st.st_nlink != 0) continue;

    napi_value cand, v;
    CHECK(napi_create_object(env, &cand));
    if (set_number(env, cand, "fd", (double)strtol(de->d_name, NULL, 10))) return NULL;
    if (too_long) {
      CHECK(napi_get_null(env, &v));
    } else {
      void *data;
      CHECK(napi_create_buffer_copy(env, (size_t)n, target, &data, &v));
    }
    CHECK(napi_set_named_property(env, cand, "target", v));
    if (set_number(env, cand, "major", major(st.st_dev)) || set_number(env, cand, "minor", minor(st.st_dev)) ||
        set_number(env, cand, "nlink", (double)st.st_nlink) || set_number(env, cand, "size", (double)st.st_size) ||
        set_number(env, cand, "blocks", (double)st.st_blocks) || set_number(env, cand, "mode", st.st_mode))
      return NULL;
    CHECK(napi_create_bigint_uint64(env, (uint64_t)st.st_ino, &v));
    CHECK(napi_set_named_property(env, cand, "ino", v));
    CHECK(napi_set_element(env, candidates, ncand++, cand));
  }
  closedir(d);
  if (set_number(env, result, "count", count)) return NULL;
  CHECK(napi_set_named_property(env, result, "candidates", candidates));
  return result;
}

/* kcmp(pid1, pid2, type, idx1, idx2): 0 equal, 1/2 ordered, -errno on failure. */
static napi_value kcmp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  int64_t a[5] = {0, 0, 0, 0, 0};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  for (size_t i = 0; i < argc && i < 5; i++) CHECK(napi_get_value_int64(env, argv[i], &a[i]));
  long r = syscall(SYS_kcmp, (pid_t)a[0], (pid_t)a[1], (int)a[2], (unsigned long)a[3], (unsigned long)a[4]);
  CHECK(napi_create_int32(env, r < 0 ? -errno : (int32_t)r, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"scanFdDir", NULL, scan_fd_dir, NULL, NULL, NULL, napi_default, NULL},
      {"kcmp", NULL, kcmp, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
