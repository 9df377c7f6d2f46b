// Why this file exists: Debian's libgit2 is built with mbedTLS and a default certificate
// location, so git_libgit2_init() parses the whole system CA bundle (~140 certificates,
// about 4.5 ms) in every process that opens a repository. Slipway never speaks HTTPS through
// libgit2 (remote repositories go through the git program), so every `slipway` command paid
// for certificates it never used: a third of the run time of `slipway history --limit 20`.
//
// The slipway executable exports these two functions (see its linkerSettings in Package.swift);
// the dynamic linker binds libgit2's calls to them instead of mbedTLS's, and they load nothing.
// Should libgit2 ever open a TLS connection in this process, it would have no trusted
// certificate and the handshake would fail: closed, never open.
//
// Other binaries that link this file (the tests) do not export the symbols and keep mbedTLS's.

/// Stands in for mbedTLS's `mbedtls_x509_crt_parse_file`: loads no certificate.
int mbedtls_x509_crt_parse_file(void *chain, const char *path) {
    (void)chain;
    (void)path;
    return 0;
}

/// Stands in for mbedTLS's `mbedtls_x509_crt_parse_path`: loads no certificate.
int mbedtls_x509_crt_parse_path(void *chain, const char *path) {
    (void)chain;
    (void)path;
    return 0;
}
