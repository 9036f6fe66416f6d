// swift-tools-version: 6.1
import PackageDescription

// The broker core and the server run on one event loop and are classes whose stored properties (dictionaries of
// sessions and connections) are mutated in place per message: the dynamic exclusivity checks on those accesses
// were 8-10% of the broker's CPU in fan-in profiles. The codec (MQTTCore) writes through ByteBuffer's storage
// class, whose accesses were checked too (3% more). Release builds of these three targets skip the checks; debug
// builds, which every test runs, keep them, so an overlapping access is still caught there.
let hotPathSettings: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "tern",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "MQTTCore", targets: ["MQTTCore"]),
        .library(name: "TernBroker", targets: ["TernBroker"]),
        .library(name: "TernServer", targets: ["TernServer"]),
        .library(name: "MQTTClient", targets: ["MQTTClient"]),
        .library(name: "TernSCRAM", targets: ["TernSCRAM"]),
        .executable(name: "tern", targets: ["tern"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
    ],
    targets: [
        .target(
            name: "MQTTCore",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPathSettings
        ),
        .target(name: "CTernPrefetch"),
        .target(
            name: "TernSCRAM",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "TernBroker",
            dependencies: [
                "MQTTCore",
                "CTernPrefetch",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "TernServer",
            dependencies: [
                "MQTTCore",
                "TernBroker",
                "TernSCRAM",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: hotPathSettings
        ),
        .target(
            name: "MQTTClient",
            dependencies: [
                "MQTTCore",
                "TernSCRAM",
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "TernAdmin",
            dependencies: [
                "MQTTCore",
                "TernBroker",
                "TernServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Resources")]
        ),
        .executableTarget(
            name: "tern",
            dependencies: [
                "TernAdmin",
                "TernBroker",
                "TernServer",
                "MQTTClient",
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "MQTTCoreBenchmark",
            dependencies: ["MQTTCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/MQTTCoreBenchmark"
        ),
        .executableTarget(
            name: "BrokerBenchmark",
            dependencies: ["MQTTCore", "TernBroker", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/BrokerBenchmark",
            // The broker's generic entry points are specialised here, for `CountingOutput`: built as the server
            // builds them, without run-time exclusivity checks.
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "ServerBenchmark",
            dependencies: ["TernBroker", "TernServer", .product(name: "Logging", package: "swift-log")],
            path: "Benchmarks/ServerBenchmark",
            swiftSettings: hotPathSettings
        ),
        .executableTarget(
            name: "BrokerFuzzer",
            dependencies: ["MQTTCore", "TernBroker", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/BrokerFuzzer"
        ),
        .executableTarget(
            name: "MQTTDecoderFuzzer",
            dependencies: ["MQTTCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/MQTTDecoderFuzzer"
        ),
        .testTarget(
            name: "TernBrokerTests",
            dependencies: [
                "TernBroker",
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "TernServerTests",
            dependencies: [
                "TernServer",
                "TernBroker",
                "MQTTCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "MQTTClientTests",
            dependencies: [
                "MQTTClient",
                "MQTTCore",
                "TernServer",
                "TernBroker",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TernAdminTests",
            dependencies: [
                "TernAdmin",
                "TernServer",
                "TernBroker",
                "MQTTCore",
            ]
        ),
        .testTarget(
            name: "TernSCRAMTests",
            dependencies: ["TernSCRAM"]
        ),
        .testTarget(
            name: "MQTTCoreTests",
            dependencies: [
                "MQTTCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
