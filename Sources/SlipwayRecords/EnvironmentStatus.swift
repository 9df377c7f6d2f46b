public import Foundation
public import SlipwayCore

/// What runs in an environment now (`Status/<env>.md`).
public struct EnvironmentStatus: Sendable, Codable, Equatable {
    public var environment: EnvironmentName
    public var service: String
    /// The running version, nil when nothing runs.
    public var version: String?
    /// The commit and manifest blob the running version was deployed from.
    public var commit: ObjectID?
    public var manifest: ObjectID?
    public var since: String?
    public var instances: [InstanceSummary]
    public var lastResult: DeploymentResult
    public var lastDeployment: DeploymentID
    /// Set while the desired state is a version that failed: Slipway does not retry it until
    /// the manifest changes.
    public var failedVersion: String?
    public var failedManifest: ObjectID?
    /// The commit that brought the failed manifest: a new commit that brings the same manifest
    /// again (a revert, a change signed anew) is a new request and is tried.
    public var failedCommit: ObjectID?
    public var failedDeployment: DeploymentID?
    public var failedReason: String?
    /// Set when a downstream environment validated the running version here (smoke,
    /// integration, soak): the version, the downstream manifest it was validated for, and
    /// the deployment that did it. A later run of the same version and manifest reuses it.
    public var validatedVersion: String?
    public var validatedFor: ObjectID?
    public var validatedIn: DeploymentID?
    /// The manifest that crash-looped between releases (see healing in README, "The daemon"):
    /// neither healed nor repaired until a new release, or `apply --retry-failed`.
    public var crashLoop: ObjectID?

    public init(environment: EnvironmentName, service: String, version: String?, commit: ObjectID?, manifest: ObjectID?, since: String?,
                instances: [InstanceSummary], lastResult: DeploymentResult, lastDeployment: DeploymentID,
                failedVersion: String? = nil, failedManifest: ObjectID? = nil, failedCommit: ObjectID? = nil,
                failedDeployment: DeploymentID? = nil, failedReason: String? = nil,
                validatedVersion: String? = nil, validatedFor: ObjectID? = nil, validatedIn: DeploymentID? = nil) {
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
