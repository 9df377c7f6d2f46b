/// The files Slipway ships with: the Mustache templates of `Templates/` and the example
/// manifests of `Environments/`, compiled into the binary (`embedInCode`, through the
/// symlinks in this folder) so that `slipway init` and `slipway demo` work from anywhere.
public enum Defaults {
    /// Templates by file name (`record.md.mustache`, `status.md.mustache`).
    public static let templates: [String: String] = [
        "record.md.mustache": text(PackageResources.record_md_mustache),
        "status.md.mustache": text(PackageResources.status_md_mustache),
    ]

    /// Example manifests by file name (`staging.yaml`, `production.yaml`).
    public static let environments: [String: String] = [
        "staging.yaml": text(PackageResources.staging_yaml),
        "production.yaml": text(PackageResources.production_yaml),
    ]

    /// Git hooks by file name; `@SLIPWAY@` stands for the path of the slipway binary.
    public static let hooks: [String: String] = [
        "pre-commit": text(PackageResources.pre_commit),
        "pre-receive": text(PackageResources.pre_receive),
        "post-receive": text(PackageResources.post_receive),
        "post-merge": text(PackageResources.post_merge),
    ]

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
