public import Foundation

/// What runs in an environment now (`Status/<env>.md`).
public struct EnvironmentStatus: Sendable, Codable, Equatable {
    public var environment: String
    public var service: String
    /// The running version, nil when nothing runs.
    public var version: String?
    /// The commit and manifest blob the running version was deployed from.
    public var commit: String?
    public var manifest: String?
    public var since: String?
    public var instances: [InstanceSummary]
    public var lastResult: DeploymentResult
    public var lastDeployment: String
    /// Set while the desired state is a version that failed: Slipway does not retry it until
    /// the manifest changes.
    public var failedVersion: String?
    public var failedManifest: String?
    /// The commit that brought the failed manifest: a new commit that brings the same manifest
    /// again (a revert, a change signed anew) is a new request and is tried.
    public var failedCommit: String?
    public var failedDeployment: String?
    public var failedReason: String?
    /// Set when a downstream environment validated the running version here (smoke,
    /// integration, soak): the version, the downstream manifest it was validated for, and
    /// the deployment that did it. A later run of the same version and manifest reuses it.
    public var validatedVersion: String?
    public var validatedFor: String?
    public var validatedIn: String?

    public init(environment: String, service: String, version: String?, commit: String?, manifest: String?, since: String?,
                instances: [InstanceSummary], lastResult: DeploymentResult, lastDeployment: String,
                failedVersion: String? = nil, failedManifest: String? = nil, failedCommit: String? = nil, failedDeployment: String? = nil,
                failedReason: String? = nil,
                validatedVersion: String? = nil, validatedFor: String? = nil, validatedIn: String? = nil) {
        self.environment = environment
        self.service = service
        self.version = version
        self.commit = commit
        self.manifest = manifest
        self.since = since
        self.instances = instances
        self.lastResult = lastResult
        self.lastDeployment = lastDeployment
        self.failedVersion = failedVersion
        self.failedManifest = failedManifest
        self.failedCommit = failedCommit
        self.failedDeployment = failedDeployment
        self.failedReason = failedReason
        self.validatedVersion = validatedVersion
        self.validatedFor = validatedFor
        self.validatedIn = validatedIn
    }
}
