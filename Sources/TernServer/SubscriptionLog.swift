import Logging
import MQTTCore

/// `log_type subscribe` and `log_type unsubscribe`: a line per filter of each SUBSCRIBE (`CLIENT QOS FILTER`) and
/// UNSUBSCRIBE (`CLIENT FILTER`), as Mosquitto writes them, logged whatever the level the other types set. Their
/// source is `subscribe` or `unsubscribe` (`log_dest topic` publishes them under `$SYS/broker/log/M/...`).
struct SubscriptionLog {
    var subscribe = false
    var unsubscribe = false

    var isEnabled: Bool { subscribe || unsubscribe }

    func log(_ packet: Packet, clientID: String, logger: Logger) {
        var logger = logger
        logger.logLevel = min(logger.logLevel, .info)
        switch packet {
        case .subscribe(let subscribe) where self.subscribe:
            for subscription in subscribe.subscriptions {
                logger.info("\(clientID) \(subscription.options.qos.rawValue) \(subscription.topicFilter)",
                            source: "subscribe")
            }
        case .unsubscribe(let unsubscribe) where self.unsubscribe:
            for filter in unsubscribe.topicFilters {
                logger.info("\(clientID) \(filter)", source: "unsubscribe")
            }
        default:
            break
        }
    }
}
