#include <git2.h>
#include <git2/sys/repository.h>

/// git_libgit2_opts is variadic, which Swift cannot call: the one option Slipway sets.
/// Trees over 4 KiB are not cached by default, so an Environments/ or Status/ folder with
/// hundreds of files was read from the object database again on every lookup.
static inline int slipway_git_set_tree_cache_limit(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, (int)GIT_OBJECT_TREE, bytes);
}

/// Commits are read once each by the history walk: caching them only costs.
static inline int slipway_git_set_commit_cache_limit(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, (int)GIT_OBJECT_COMMIT, bytes);
}

/// The total size of libgit2's object cache (256 MiB by default): a long-running daemon keeps it small.
static inline int slipway_git_set_cache_max_size(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)bytes);
}
