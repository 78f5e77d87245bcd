// The MPI communicator (OpenMPI): the only file that includes mpi.h. Reductions are a
// reduce to rank 0 followed by a broadcast, so every rank holds the very same bits (an
// all-reduce may round differently on different ranks, and parameters updated from
// reduced gradients must not drift apart).
// The C API only: OpenMPI and MPICH otherwise pull in their deprecated C++ bindings.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdio>

// __SANITIZE_ADDRESS__: GCC's and clang's -fsanitize=address (docs/fuzzing.md).
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "dist/comm.h"
#include "util/error.h"

namespace dpl::dist {

namespace {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail("MPI {} failed: {}", what, std::string(text, static_cast<size_t>(len)));
}

// Large buffers go in pieces whose element count fits MPI's int counts.
constexpr size_t kChunk = size_t{1} << 28;
constexpr int kTag = 7;

// OpenMPI's components (loaded by MPI_Init, unloaded by MPI_Finalize) keep blocks in their own
// globals, some allocated later by its runtime thread; once unloaded, the leak checker finds
// those blocks unreachable, with stacks through unloaded code that no suppression can name.
// They are not ours to free. Under AddressSanitizer (docs/fuzzing.md) what MPI_Init and
// MPI_Finalize allocate is not counted, and the leak check runs before MPI_Finalize, while
// every block OpenMPI holds is still reachable: everything else these processes leak is found.
struct IgnoreMpiLeaks {
#if defined(__SANITIZE_ADDRESS__)
  IgnoreMpiLeaks() { __lsan_disable(); }
  ~IgnoreMpiLeaks() { __lsan_enable(); }
  static void check_now() { __lsan_do_leak_check(); }
#else
  static void check_now() {}
#endif
};

class MpiComm : public Comm {
 public:
  MpiComm() {
    [[maybe_unused]] const IgnoreMpiLeaks ignore;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "initialization");
      owns_ = true;
    }
    // Errors come back as codes (turned into dpl::Error) instead of aborting silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "host split");
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
  }
  ~MpiComm() override {
    if (!owns_) return;
    IgnoreMpiLeaks::check_now();
    [[maybe_unused]] const IgnoreMpiLeaks ignore;
    MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_size() const override { return local_size_; }

  void sum(std::span<double> v) override { reduce(v.data(), v.size(), MPI_DOUBLE, MPI_SUM, sizeof(double)); }
  void sum(std::span<float> v) override { reduce(v.data(), v.size(), MPI_FLOAT, MPI_SUM, sizeof(float)); }
  void max(std::span<double> v) override { reduce(v.data(), v.size(), MPI_DOUBLE, MPI_MAX, sizeof(double)); }

  std::vector<std::string> allgather(const std::string& bytes) override {
    DPL_CHECK(bytes.size() <= static_cast<size_t>(INT_MAX), "MPI: {} bytes are too many for one exchange",
              bytes.size());
    int n = static_cast<int>(bytes.size());
    std::vector<int> sizes(static_cast<size_t>(size_));
    check(MPI_Allgather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD), "allgather");
    std::vector<int> offsets(sizes.size());
    long long total = 0;
    for (size_t r = 0; r < sizes.size(); ++r) {
      offsets[r] = static_cast<int>(total);
      total += sizes[r];
    }
    DPL_CHECK(total <= INT_MAX, "MPI: {} bytes are too many for one exchange", total);
    std::string all(static_cast<size_t>(total), '\0');
    check(MPI_Allgatherv(bytes.data(), n, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE,
                         MPI_COMM_WORLD),
          "allgather");
    std::vector<std::string> out;
    for (size_t r = 0; r < sizes.size(); ++r) out.push_back(all.substr(static_cast<size_t>(offsets[r]), sizes[r]));
    return out;
  }

  void broadcast(std::string& bytes, int root) override {
    unsigned long long n = bytes.size();
    check(MPI_Bcast(&n, 1, MPI_UNSIGNED_LONG_LONG, root, MPI_COMM_WORLD), "broadcast");
    bytes.resize(static_cast<size_t>(n));
    for (size_t at = 0; at < n; at += kChunk) {
      const int len = static_cast<int>(std::min<size_t>(kChunk, n - at));
      check(MPI_Bcast(bytes.data() + at, len, MPI_BYTE, root, MPI_COMM_WORLD), "broadcast");
    }
  }

  void send(const std::string& bytes, int to) override {
    unsigned long long n = bytes.size();
    check(MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, to, kTag, MPI_COMM_WORLD), "send");
    for (size_t at = 0; at < n; at += kChunk) {
      const int len = static_cast<int>(std::min<size_t>(kChunk, n - at));
      check(MPI_Send(bytes.data() + at, len, MPI_BYTE, to, kTag, MPI_COMM_WORLD), "send");
    }
  }

  std::string recv(int from) override {
    unsigned long long n = 0;
    check(MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, from, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "receive");
    std::string bytes(static_cast<size_t>(n), '\0');
    for (size_t at = 0; at < n; at += kChunk) {
      const int len = static_cast<int>(std::min<size_t>(kChunk, n - at));
      check(MPI_Recv(bytes.data() + at, len, MPI_BYTE, from, kTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "receive");
    }
    return bytes;
  }

  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "barrier"); }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  void reduce(void* data, size_t n, MPI_Datatype type, MPI_Op op, size_t elem) {
    if (size_ == 1 || n == 0) return;
    char* p = static_cast<char*>(data);
    for (size_t at = 0; at < n; at += kChunk) {
      const int len = static_cast<int>(std::min(kChunk, n - at));
      void* chunk = p + at * elem;
      if (rank_ == 0)
        check(MPI_Reduce(MPI_IN_PLACE, chunk, len, type, op, 0, MPI_COMM_WORLD), "reduction");
      else
        check(MPI_Reduce(chunk, nullptr, len, type, op, 0, MPI_COMM_WORLD), "reduction");
      check(MPI_Bcast(chunk, len, type, 0, MPI_COMM_WORLD), "broadcast");
    }
  }

  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool owns_ = false;
};

}  // namespace

bool mpi_built() { return true; }

std::unique_ptr<Comm> mpi_comm() { return std::make_unique<MpiComm>(); }

}  // namespace dpl::dist
