/*
 * Strongroom fault-injecting PKCS#11 shim.
 *
 * Loaded by the application *as if it were* the HSM module. On the first C_GetFunctionList it dlopen()s the real
 * module, copies its CK_FUNCTION_LIST into a static list and replaces a set of entries with wrappers. Every
 * wrapper consults a rule file and either forwards the call untouched or injects a fault.
 *
 * Environment
 *   STRONGROOM_FAULT_REAL_MODULE  real module (default /usr/lib/softhsm/libsofthsm2.so). Read once, on the first
 *                                 C_GetFunctionList of the process (i.e. when the shim is loaded).
 *   STRONGROOM_FAULT_CONTROL      rule file. Read at load time and again on every C_Initialize call.
 *   STRONGROOM_FAULT_STATS        statistics file (optional). Read at load time and again on every C_Initialize
 *                                 call; when C_Initialize sees a different path than before, counters reset.
 *   Note: the variables are read with getenv(), i.e. from the C environment of the process. Assignments to
 *   process.env inside a Node worker_thread do not reach it; set them on the main thread (or in a forked child).
 *
 * Rule file: one rule per line, '#' starts a comment, blank lines ignored.
 *   <function> <action> [count] [arg]
 *   function  a wrapped function name (C_Sign, C_Login, ...) or '*' for every wrapped function.
 *   action    rv=<code>       return <code> without calling the real function. <code> is hex (0xB3), decimal,
 *                             or a CKR_ name from the table below.
 *             delay=<ms>      sleep <ms> milliseconds, then forward normally.
 *             close-session   call the real C_CloseSession(hSession) first, then forward.
 *             logout          call the real C_Logout(hSession) first, then forward.
 *             'rv' / 'delay' without '=' take their value from [arg] (then count must be given).
 *   count     how many matching calls the rule affects; omitted or -1 = unlimited; 0 = rule disabled.
 *   The first rule (in file order) that matches a call and still has count left is applied; a call consumes at
 *   most one rule. close-session / logout rules never match functions that have no session argument
 *   (C_Initialize, C_Finalize, C_OpenSession, C_GetSlotList, C_GetTokenInfo) and are not consumed by them.
 *   The file is re-read whenever its inode, size, mtime or ctime changes (stat() on each wrapped call); every
 *   (re)load resets all counts. A missing file means "no rules". Malformed lines are reported on stderr and ignored.
 *
 * Statistics (written atomically: temp file + rename; whole file rewritten, "key=value" lines):
 *   max_concurrent_sign  largest number of threads simultaneously inside the wrapped C_Sign (the whole wrapped
 *                        call, including any injected delay)
 *   signs                wrapped C_Sign calls (including ones that got a fault)
 *   logins               wrapped C_Login calls (attempts, including ones that got a fault)
 *   open_sessions        wrapped C_OpenSession calls
 *   faults               faults injected (any action)
 *   rule_loads           times the rule file was (re)loaded
 *   rule_errors          malformed lines seen in the current rule file
 * The file is rewritten on: a new max_concurrent_sign, every C_Login, every C_OpenSession, every injected fault,
 * every rule (re)load, C_Initialize and C_Finalize. Between rewrites counters such as "signs" may lag.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * pkcs11js' copy of pkcs11.h already defines the Unix platform macros (CK_PTR, CK_DECLARE_FUNCTION,
 * CK_DECLARE_FUNCTION_POINTER, CK_CALLBACK_FUNCTION, CK_DEFINE_FUNCTION, NULL_PTR) itself; the stock OASIS header
 * would need them first. Define them only if that header is not the one being used.
 */
#ifndef CK_PTR
#define CK_PTR *
#endif
#ifndef CK_DECLARE_FUNCTION
#define CK_DECLARE_FUNCTION(returnType, name) returnType name
#endif
#ifndef CK_DECLARE_FUNCTION_POINTER
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType(*name)
#endif
#ifndef CK_CALLBACK_FUNCTION
#define CK_CALLBACK_FUNCTION(returnType, name) returnType(*name)
#endif
#ifndef CK_DEFINE_FUNCTION
#define CK_DEFINE_FUNCTION(returnType, name) returnType name
#endif
#ifndef NULL_PTR
#define NULL_PTR 0
#endif
#include <pkcs11.h>

#define EXPORT __attribute__((visibility("default")))
#define DEFAULT_REAL_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define MAX_RULES 128
#define MAX_PATH_LEN 4096
#define MAX_CONTROL_BYTES (256 * 1024)

/* ---------------------------------------------------------------- wrapped functions */

enum fn_id {
  F_Initialize,
  F_Finalize,
  F_GetSlotList,
  F_GetTokenInfo,
  F_OpenSession,
  F_CloseSession,
  F_GetSessionInfo,
  F_Login,
  F_Logout,
  F_FindObjectsInit,
  F_FindObjects,
  F_FindObjectsFinal,
  F_GetAttributeValue,
  F_SignInit,
  F_Sign,
  F_SignUpdate,
  F_SignFinal,
  F_GenerateKeyPair,
  F_GenerateRandom,
  F_COUNT,
  F_ANY = -1
};

static const char *const fn_names[F_COUNT] = {
  "C_Initialize", "C_Finalize", "C_GetSlotList", "C_GetTokenInfo", "C_OpenSession", "C_CloseSession",
  "C_GetSessionInfo", "C_Login", "C_Logout", "C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal",
  "C_GetAttributeValue", "C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal", "C_GenerateKeyPair",
  "C_GenerateRandom",
};

/* ---------------------------------------------------------------- rules */

enum action_kind { A_NONE = 0, A_RV, A_DELAY, A_CLOSE_SESSION, A_LOGOUT };

struct rule {
  int fn;             /* enum fn_id or F_ANY */
  enum action_kind kind;
  unsigned long value; /* rv code or delay in ms */
  long remaining;      /* -1 = unlimited */
};

struct file_id {
  int present;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim;
  struct timespec ctim;
};

static pthread_mutex_t rule_lock = PTHREAD_MUTEX_INITIALIZER;
static char control_path[MAX_PATH_LEN]; /* guarded by rule_lock */
static struct file_id control_id;       /* guarded by rule_lock */
static struct rule rules[MAX_RULES];     /* guarded by rule_lock */
static int rule_count;                   /* guarded by rule_lock */

/* ---------------------------------------------------------------- statistics */

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static char stats_path[MAX_PATH_LEN]; /* guarded by stats_lock */
static unsigned long stats_seq;       /* guarded by stats_lock */

static long sign_inflight;  /* atomics (__atomic builtins) */
static long sign_max;
static long sign_total;
static long login_total;
static long open_session_total;
static long fault_total;
static long rule_loads;
static long rule_errors;

/* ---------------------------------------------------------------- real module */

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_RV load_rv = CKR_GENERAL_ERROR;
static void *real_handle;
static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST shim;

/* ---------------------------------------------------------------- helpers */

static void copy_env(const char *name, char *dst, size_t cap) {
  const char *v = getenv(name);
  if (v == NULL) v = "";
  snprintf(dst, cap, "%s", v);
}

static void sleep_ms(unsigned long ms) {
  struct timespec ts;
  ts.tv_sec = (time_t)(ms / 1000);
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void write_stats(void) {
  char tmp[MAX_PATH_LEN + 64];
  char buf[1024];
  pthread_mutex_lock(&stats_lock);
  if (stats_path[0] == '\0') {
    pthread_mutex_unlock(&stats_lock);
    return;
  }
  /* Snapshot inside the lock so a later rename can never carry older numbers than an earlier one. */
  int n = snprintf(buf, sizeof buf,
                   "max_concurrent_sign=%ld\nsigns=%ld\nlogins=%ld\nopen_sessions=%ld\nfaults=%ld\n"
                   "rule_loads=%ld\nrule_errors=%ld\n",
                   __atomic_load_n(&sign_max, __ATOMIC_SEQ_CST), __atomic_load_n(&sign_total, __ATOMIC_SEQ_CST),
                   __atomic_load_n(&login_total, __ATOMIC_SEQ_CST),
                   __atomic_load_n(&open_session_total, __ATOMIC_SEQ_CST),
                   __atomic_load_n(&fault_total, __ATOMIC_SEQ_CST), __atomic_load_n(&rule_loads, __ATOMIC_SEQ_CST),
                   __atomic_load_n(&rule_errors, __ATOMIC_SEQ_CST));
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%lu", stats_path, (long)getpid(), ++stats_seq);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = write(fd, buf + off, (size_t)(n - off));
      if (w < 0) {
        if (errno == EINTR) continue;
        break;
      }
      off += w;
    }
    close(fd);
    if (off == n) {
      if (rename(tmp, stats_path) != 0) unlink(tmp);
    } else {
      unlink(tmp);
    }
  }
  pthread_mutex_unlock(&stats_lock);
}

static void reset_counters(void) {
  __atomic_store_n(&sign_max, __atomic_load_n(&sign_inflight, __ATOMIC_SEQ_CST), __ATOMIC_SEQ_CST);
  __atomic_store_n(&sign_total, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&login_total, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&open_session_total, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&fault_total, 0, __ATOMIC_SEQ_CST);
  __atomic_store_n(&rule_loads, 0, __ATOMIC_SEQ_CST);
}

/* Re-read STRONGROOM_FAULT_CONTROL / STRONGROOM_FAULT_STATS (load time and every C_Initialize). */
static void refresh_env(void) {
  char path[MAX_PATH_LEN];
  int stats_changed;

  copy_env("STRONGROOM_FAULT_STATS", path, sizeof path);
  pthread_mutex_lock(&stats_lock);
  stats_changed = strcmp(path, stats_path) != 0;
  if (stats_changed) snprintf(stats_path, sizeof stats_path, "%s", path);
  pthread_mutex_unlock(&stats_lock);
  if (stats_changed) reset_counters();

  copy_env("STRONGROOM_FAULT_CONTROL", path, sizeof path);
  pthread_mutex_lock(&rule_lock);
  if (strcmp(path, control_path) != 0) {
    snprintf(control_path, sizeof control_path, "%s", path);
    memset(&control_id, 0, sizeof control_id); /* force a reload on the next call */
    rule_count = 0;
  }
  pthread_mutex_unlock(&rule_lock);
}

/* ---------------------------------------------------------------- rule parsing */

struct ckr_name {
  const char *name;
  unsigned long value;
};
#define CKR_ENTRY(n) {#n, n}
static const struct ckr_name ckr_names[] = {
  CKR_ENTRY(CKR_OK),
  CKR_ENTRY(CKR_HOST_MEMORY),
  CKR_ENTRY(CKR_GENERAL_ERROR),
  CKR_ENTRY(CKR_FUNCTION_FAILED),
  CKR_ENTRY(CKR_ARGUMENTS_BAD),
  CKR_ENTRY(CKR_DEVICE_ERROR),
  CKR_ENTRY(CKR_DEVICE_MEMORY),
  CKR_ENTRY(CKR_DEVICE_REMOVED),
  CKR_ENTRY(CKR_FUNCTION_CANCELED),
  CKR_ENTRY(CKR_KEY_HANDLE_INVALID),
  CKR_ENTRY(CKR_OBJECT_HANDLE_INVALID),
  CKR_ENTRY(CKR_OPERATION_ACTIVE),
  CKR_ENTRY(CKR_OPERATION_NOT_INITIALIZED),
  CKR_ENTRY(CKR_PIN_INCORRECT),
  CKR_ENTRY(CKR_PIN_LOCKED),
  CKR_ENTRY(CKR_SESSION_CLOSED),
  CKR_ENTRY(CKR_SESSION_COUNT),
  CKR_ENTRY(CKR_SESSION_HANDLE_INVALID),
  CKR_ENTRY(CKR_TOKEN_NOT_PRESENT),
  CKR_ENTRY(CKR_TOKEN_NOT_RECOGNIZED),
  CKR_ENTRY(CKR_USER_ALREADY_LOGGED_IN),
  CKR_ENTRY(CKR_USER_NOT_LOGGED_IN),
  CKR_ENTRY(CKR_CRYPTOKI_NOT_INITIALIZED),
  CKR_ENTRY(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};

static int parse_ulong(const char *s, unsigned long *out) {
  if (s == NULL || *s == '\0') return 0;
  for (size_t i = 0; i < sizeof ckr_names / sizeof ckr_names[0]; i++) {
    if (strcmp(s, ckr_names[i].name) == 0) {
      *out = ckr_names[i].value;
      return 1;
    }
  }
  if (*s == '-' || *s == '+') return 0;
  char *end = NULL;
  errno = 0;
  /* Hex with 0x, otherwise decimal (no octal surprises for a leading 0). */
  int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (!isxdigit((unsigned char)s[hex ? 2 : 0]) || (!hex && !isdigit((unsigned char)s[0]))) return 0;
  unsigned long v = strtoul(hex ? s + 2 : s, &end, hex ? 16 : 10);
  if (errno != 0 || end == s || *end != '\0') return 0;
  *out = v;
  return 1;
}

static int parse_long(const char *s, long *out) {
  if (s == NULL || *s == '\0') return 0;
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < -1) return 0;
  *out = v;
  return 1;
}

static int parse_rule(char *line, struct rule *r) {
  char *save = NULL;
  char *tok[5];
  int nt = 0;
  for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL; t = strtok_r(NULL, " \t\r\n", &save)) {
    if (nt == 5) return 0;
    tok[nt++] = t;
  }
  if (nt < 2 || nt > 4) return 0;

  if (strcmp(tok[0], "*") == 0) {
    r->fn = F_ANY;
  } else {
    r->fn = -2;
    for (int i = 0; i < F_COUNT; i++) {
      if (strcmp(tok[0], fn_names[i]) == 0) r->fn = i;
    }
    if (r->fn == -2) return 0;
  }

  r->remaining = -1;
  if (nt >= 3 && !parse_long(tok[2], &r->remaining)) return 0;
  const char *arg = nt >= 4 ? tok[3] : NULL;

  const char *a = tok[1];
  r->value = 0;
  if (strncmp(a, "rv=", 3) == 0 || strcmp(a, "rv") == 0) {
    r->kind = A_RV;
    const char *v = a[2] == '=' ? a + 3 : arg;
    if (a[2] == '=' && arg != NULL) return 0;
    if (!parse_ulong(v, &r->value)) return 0;
  } else if (strncmp(a, "delay=", 6) == 0 || strcmp(a, "delay") == 0) {
    r->kind = A_DELAY;
    const char *v = a[5] == '=' ? a + 6 : arg;
    if (a[5] == '=' && arg != NULL) return 0;
    if (!parse_ulong(v, &r->value)) return 0;
  } else if (strcmp(a, "close-session") == 0) {
    r->kind = A_CLOSE_SESSION;
    if (arg != NULL) return 0;
  } else if (strcmp(a, "logout") == 0) {
    r->kind = A_LOGOUT;
    if (arg != NULL) return 0;
  } else {
    return 0;
  }
  return 1;
}

/* Caller holds rule_lock. Loads rules from an open fd whose identity is `id`. */
static void load_rules(int fd, const struct file_id *id) {
  char *buf = malloc(MAX_CONTROL_BYTES + 1);
  size_t len = 0;
  int errors = 0;
  rule_count = 0;
  control_id = *id;
  if (buf == NULL) return;
  while (len < MAX_CONTROL_BYTES) {
    ssize_t n = read(fd, buf + len, MAX_CONTROL_BYTES - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';

  int lineno = 0;
  char *save = NULL;
  /* strtok_r on "\n" would merge empty lines, which only matters for line numbers in messages. */
  for (char *line = buf; line != NULL; line = save) {
    char *nl = strchr(line, '\n');
    save = nl != NULL ? nl + 1 : NULL;
    if (nl != NULL) *nl = '\0';
    lineno++;
    char *hash = strchr(line, '#');
    if (hash != NULL) *hash = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t' || *p == '\r') p++;
    if (*p == '\0') continue;
    struct rule r;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", p);
    if (!parse_rule(p, &r)) {
      errors++;
      fprintf(stderr, "strongroom-fault-shim: %s:%d: ignoring malformed rule: %s\n", control_path, lineno, copy);
      continue;
    }
    if (rule_count == MAX_RULES) {
      errors++;
      fprintf(stderr, "strongroom-fault-shim: %s:%d: too many rules (max %d)\n", control_path, lineno, MAX_RULES);
      continue;
    }
    rules[rule_count++] = r;
  }
  free(buf);
  __atomic_store_n(&rule_errors, errors, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&rule_loads, 1, __ATOMIC_SEQ_CST);
}

static void fill_id(struct file_id *id, const struct stat *st) {
  memset(id, 0, sizeof *id);
  id->present = 1;
  id->dev = st->st_dev;
  id->ino = st->st_ino;
  id->size = st->st_size;
  id->mtim = st->st_mtim;
  id->ctim = st->st_ctim;
}

static int same_id(const struct file_id *a, const struct file_id *b) {
  return a->present == b->present && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
         a->mtim.tv_sec == b->mtim.tv_sec && a->mtim.tv_nsec == b->mtim.tv_nsec &&
         a->ctim.tv_sec == b->ctim.tv_sec && a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* Caller holds rule_lock. Returns 1 if the rule set was (re)loaded or dropped. */
static int refresh_rules(void) {
  struct stat st;
  struct file_id now;
  if (control_path[0] == '\0') return 0;
  memset(&now, 0, sizeof now);
  if (stat(control_path, &st) == 0) fill_id(&now, &st);
  if (same_id(&now, &control_id)) return 0;
  if (!now.present) {
    control_id = now;
    rule_count = 0;
    return 1;
  }
  int fd = open(control_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || fstat(fd, &st) != 0) {
    if (fd >= 0) close(fd);
    memset(&control_id, 0, sizeof control_id);
    rule_count = 0;
    return 1;
  }
  fill_id(&now, &st);
  load_rules(fd, &now);
  close(fd);
  return 1;
}

/* Find and consume the rule for this call (if any). */
static struct rule pick_rule(int fn, int has_session) {
  struct rule picked;
  int reloaded;
  memset(&picked, 0, sizeof picked);
  pthread_mutex_lock(&rule_lock);
  reloaded = refresh_rules();
  for (int i = 0; i < rule_count; i++) {
    struct rule *r = &rules[i];
    if (r->remaining == 0) continue;
    if (r->fn != F_ANY && r->fn != fn) continue;
    if ((r->kind == A_CLOSE_SESSION || r->kind == A_LOGOUT) && !has_session) continue;
    if (r->remaining > 0) r->remaining--;
    picked = *r;
    break;
  }
  pthread_mutex_unlock(&rule_lock);
  if (picked.kind != A_NONE) __atomic_add_fetch(&fault_total, 1, __ATOMIC_SEQ_CST);
  if (reloaded || picked.kind != A_NONE) write_stats();
  return picked;
}

/*
 * Apply the fault for this call, outside every lock. Returns 1 (with *rv set) when the call must not be forwarded.
 */
static int apply_fault(int fn, CK_SESSION_HANDLE session, int has_session, CK_RV *rv) {
  struct rule r = pick_rule(fn, has_session);
  switch (r.kind) {
  case A_RV:
    *rv = (CK_RV)r.value;
    return 1;
  case A_DELAY:
    sleep_ms(r.value);
    return 0;
  case A_CLOSE_SESSION:
    real->C_CloseSession(session);
    return 0;
  case A_LOGOUT:
    real->C_Logout(session);
    return 0;
  default:
    return 0;
  }
}

#define FAULT(fn, session, has_session)                                                                           \
  do {                                                                                                             \
    CK_RV fault_rv_;                                                                                               \
    if (apply_fault((fn), (session), (has_session), &fault_rv_)) return fault_rv_;                                \
  } while (0)

/* ---------------------------------------------------------------- wrappers */

static CK_RV w_Initialize(CK_VOID_PTR pInitArgs) {
  refresh_env();
  FAULT(F_Initialize, 0, 0);
  CK_RV rv = real->C_Initialize(pInitArgs);
  write_stats();
  return rv;
}

static CK_RV w_Finalize(CK_VOID_PTR pReserved) {
  FAULT(F_Finalize, 0, 0);
  CK_RV rv = real->C_Finalize(pReserved);
  write_stats();
  return rv;
}

static CK_RV w_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
  FAULT(F_GetSlotList, 0, 0);
  return real->C_GetSlotList(tokenPresent, pSlotList, pulCount);
}

static CK_RV w_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
  FAULT(F_GetTokenInfo, 0, 0);
  return real->C_GetTokenInfo(slotID, pInfo);
}

static CK_RV w_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                           CK_SESSION_HANDLE_PTR phSession) {
  __atomic_add_fetch(&open_session_total, 1, __ATOMIC_SEQ_CST);
  write_stats();
  FAULT(F_OpenSession, 0, 0);
  return real->C_OpenSession(slotID, flags, pApplication, Notify, phSession);
}

static CK_RV w_CloseSession(CK_SESSION_HANDLE hSession) {
  FAULT(F_CloseSession, hSession, 1);
  return real->C_CloseSession(hSession);
}

static CK_RV w_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
  FAULT(F_GetSessionInfo, hSession, 1);
  return real->C_GetSessionInfo(hSession, pInfo);
}

static CK_RV w_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
  __atomic_add_fetch(&login_total, 1, __ATOMIC_SEQ_CST);
  write_stats();
  FAULT(F_Login, hSession, 1);
  return real->C_Login(hSession, userType, pPin, ulPinLen);
}

static CK_RV w_Logout(CK_SESSION_HANDLE hSession) {
  FAULT(F_Logout, hSession, 1);
  return real->C_Logout(hSession);
}

static CK_RV w_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
  FAULT(F_FindObjectsInit, hSession, 1);
  return real->C_FindObjectsInit(hSession, pTemplate, ulCount);
}

static CK_RV w_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
                           CK_ULONG_PTR pulObjectCount) {
  FAULT(F_FindObjects, hSession, 1);
  return real->C_FindObjects(hSession, phObject, ulMaxObjectCount, pulObjectCount);
}

static CK_RV w_FindObjectsFinal(CK_SESSION_HANDLE hSession) {
  FAULT(F_FindObjectsFinal, hSession, 1);
  return real->C_FindObjectsFinal(hSession);
}

static CK_RV w_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                                 CK_ULONG ulCount) {
  FAULT(F_GetAttributeValue, hSession, 1);
  return real->C_GetAttributeValue(hSession, hObject, pTemplate, ulCount);
}

static CK_RV w_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  FAULT(F_SignInit, hSession, 1);
  return real->C_SignInit(hSession, pMechanism, hKey);
}

static CK_RV w_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                    CK_ULONG_PTR pulSignatureLen) {
  long now = __atomic_add_fetch(&sign_inflight, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&sign_total, 1, __ATOMIC_SEQ_CST);
  long seen = __atomic_load_n(&sign_max, __ATOMIC_SEQ_CST);
  int new_max = 0;
  while (now > seen) {
    if (__atomic_compare_exchange_n(&sign_max, &seen, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      new_max = 1;
      break;
    }
  }
  if (new_max) write_stats();

  CK_RV rv;
  if (!apply_fault(F_Sign, hSession, 1, &rv)) rv = real->C_Sign(hSession, pData, ulDataLen, pSignature, pulSignatureLen);
  __atomic_sub_fetch(&sign_inflight, 1, __ATOMIC_SEQ_CST);
  return rv;
}

static CK_RV w_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  FAULT(F_SignUpdate, hSession, 1);
  return real->C_SignUpdate(hSession, pPart, ulPartLen);
}

static CK_RV w_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
  FAULT(F_SignFinal, hSession, 1);
  return real->C_SignFinal(hSession, pSignature, pulSignatureLen);
}

static CK_RV w_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                               CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                               CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                               CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey) {
  FAULT(F_GenerateKeyPair, hSession, 1);
  return real->C_GenerateKeyPair(hSession, pMechanism, pPublicKeyTemplate, ulPublicKeyAttributeCount,
                                 pPrivateKeyTemplate, ulPrivateKeyAttributeCount, phPublicKey, phPrivateKey);
}

static CK_RV w_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData, CK_ULONG ulRandomLen) {
  FAULT(F_GenerateRandom, hSession, 1);
  return real->C_GenerateRandom(hSession, RandomData, ulRandomLen);
}

/* ---------------------------------------------------------------- loading */

static void load_real(void) {
  char path[MAX_PATH_LEN];
  copy_env("STRONGROOM_FAULT_REAL_MODULE", path, sizeof path);
  if (path[0] == '\0') snprintf(path, sizeof path, "%s", DEFAULT_REAL_MODULE);

  real_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (real_handle == NULL) {
    fprintf(stderr, "strongroom-fault-shim: cannot load real module %s: %s\n", path, dlerror());
    load_rv = CKR_GENERAL_ERROR;
    return;
  }
  CK_C_GetFunctionList get = (CK_C_GetFunctionList)dlsym(real_handle, "C_GetFunctionList");
  if (get == NULL) {
    fprintf(stderr, "strongroom-fault-shim: %s has no C_GetFunctionList\n", path);
    load_rv = CKR_GENERAL_ERROR;
    return;
  }
  CK_RV rv = get(&real);
  if (rv != CKR_OK || real == NULL) {
    fprintf(stderr, "strongroom-fault-shim: C_GetFunctionList of %s failed: 0x%lx\n", path, (unsigned long)rv);
    load_rv = rv != CKR_OK ? rv : CKR_GENERAL_ERROR;
    return;
  }

  shim = *real; /* version and every function we do not wrap are forwarded as-is */
  shim.C_Initialize = w_Initialize;
  shim.C_Finalize = w_Finalize;
  shim.C_GetSlotList = w_GetSlotList;
  shim.C_GetTokenInfo = w_GetTokenInfo;
  shim.C_OpenSession = w_OpenSession;
  shim.C_CloseSession = w_CloseSession;
  shim.C_GetSessionInfo = w_GetSessionInfo;
  shim.C_Login = w_Login;
  shim.C_Logout = w_Logout;
  shim.C_FindObjectsInit = w_FindObjectsInit;
  shim.C_FindObjects = w_FindObjects;
  shim.C_FindObjectsFinal = w_FindObjectsFinal;
  shim.C_GetAttributeValue = w_GetAttributeValue;
  shim.C_SignInit = w_SignInit;
  shim.C_Sign = w_Sign;
  shim.C_SignUpdate = w_SignUpdate;
  shim.C_SignFinal = w_SignFinal;
  shim.C_GenerateKeyPair = w_GenerateKeyPair;
  shim.C_GenerateRandom = w_GenerateRandom;
  /* Our own C_GetFunctionList, not the real one, so callers that re-fetch the list keep getting the shim. */
  shim.C_GetFunctionList = C_GetFunctionList;

  refresh_env();
  load_rv = CKR_OK;
}

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
  pthread_once(&load_once, load_real);
  if (load_rv != CKR_OK) return load_rv;
  if (ppFunctionList == NULL) return CKR_ARGUMENTS_BAD;
  *ppFunctionList = &shim;
  return CKR_OK;
}
