/*
 * status.h - status, connection-state and JetStream error codes.
 *
 * Part of the Rust re-implementation of the NATS C client. The names and
 * numeric values below are part of the cnats v3.13.0 C ABI and must never
 * change; applications compiled against cnats depend on them.
 *
 * Licensed under the Apache License, Version 2.0.
 */

#ifndef STATUS_H_
#define STATUS_H_

#ifdef __cplusplus
extern "C" {
#endif

/** State of a connection, as reported by natsConnection_Status(). */
typedef enum
{
#if defined(NATS_CONN_STATUS_NO_PREFIX)
    /* Legacy spelling without the NATS_CONN_STATUS_ prefix (deprecated);
     * selected by defining NATS_CONN_STATUS_NO_PREFIX before inclusion. */
    DISCONNECTED = 0,      /**< Not connected to any server. */
    CONNECTING = 1,        /**< A connection attempt is under way. */
    CONNECTED = 2,         /**< Connected to a server. */
    CLOSED = 3,            /**< Closed for good; no further use is possible. */
    RECONNECTING = 4,      /**< Lost the server and trying to reconnect. */
    DRAINING_SUBS = 5,     /**< Draining: subscriptions are being drained. */
    DRAINING_PUBS = 6      /**< Draining: pending publishes are being flushed. */
#else
    NATS_CONN_STATUS_DISCONNECTED = 0,      /**< Not connected to any server. */
    NATS_CONN_STATUS_CONNECTING = 1,        /**< A connection attempt is under way. */
    NATS_CONN_STATUS_CONNECTED = 2,         /**< Connected to a server. */
    NATS_CONN_STATUS_CLOSED = 3,            /**< Closed for good; no further use is possible. */
    NATS_CONN_STATUS_RECONNECTING = 4,      /**< Lost the server and trying to reconnect. */
    NATS_CONN_STATUS_DRAINING_SUBS = 5,     /**< Draining: subscriptions are being drained. */
    NATS_CONN_STATUS_DRAINING_PUBS = 6      /**< Draining: pending publishes are being flushed. */
#endif
} natsConnStatus;

/** Result code returned by most library functions. */
typedef enum
{
    NATS_OK = 0,                             /**< The call succeeded. */
    NATS_ERR = 1,                            /**< Unspecified failure. */
    NATS_PROTOCOL_ERROR = 2,                 /**< Malformed or unexpected protocol message from the server. */
    NATS_IO_ERROR = 3,                       /**< Network read or write failed. */
    NATS_LINE_TOO_LONG = 4,                  /**< A protocol line exceeded the read buffer size. */
    NATS_CONNECTION_CLOSED = 5,              /**< The connection is closed, so the operation cannot proceed. */
    NATS_NO_SERVER = 6,                      /**< No server could be reached. */
    NATS_STALE_CONNECTION = 7,               /**< The server dropped the connection after missed PINGs. */
    NATS_SECURE_CONNECTION_WANTED = 8,       /**< TLS was requested by the client but the server does not offer it. */
    NATS_SECURE_CONNECTION_REQUIRED = 9,     /**< The server insists on TLS. */
    NATS_CONNECTION_DISCONNECTED = 10,       /**< The connection dropped (a reconnect may follow). */
    NATS_CONNECTION_AUTH_FAILED = 11,        /**< Authentication or authorization was rejected. */
    NATS_NOT_PERMITTED = 12,                 /**< The operation is not allowed. */
    NATS_NOT_FOUND = 13,                     /**< The requested item does not exist. */
    NATS_ADDRESS_MISSING = 14,               /**< The URL is malformed, e.g. has no host. */
    NATS_INVALID_SUBJECT = 15,               /**< The subject is invalid (NULL, empty, bad tokens). */
    NATS_INVALID_ARG = 16,                   /**< An argument is invalid, e.g. NULL where a value is required. */
    NATS_INVALID_SUBSCRIPTION = 17,          /**< The subscription is no longer valid (closed or unsubscribed). */
    NATS_INVALID_TIMEOUT = 18,               /**< The timeout value is not positive. */
    NATS_ILLEGAL_STATE = 19,                 /**< The object is in a state where the call makes no sense. */
    NATS_SLOW_CONSUMER = 20,                 /**< Pending limits were hit; messages are being dropped. */
    NATS_MAX_PAYLOAD = 21,                   /**< The payload is larger than the server's maximum. */
    NATS_MAX_DELIVERED_MSGS = 22,            /**< The subscription's delivery limit has been reached. */
    NATS_INSUFFICIENT_BUFFER = 23,           /**< The supplied buffer is too small. */
    NATS_NO_MEMORY = 24,                     /**< Memory allocation failed. */
    NATS_SYS_ERROR = 25,                     /**< An operating system call failed. */
    NATS_TIMEOUT = 26,                       /**< The operation did not complete in time. */
    NATS_FAILED_TO_INITIALIZE = 27,          /**< Library initialization failed. */
    NATS_NOT_INITIALIZED = 28,               /**< The library has not been initialized. */
    NATS_SSL_ERROR = 29,                     /**< TLS handshake or TLS I/O failed. */
    NATS_NO_SERVER_SUPPORT = 30,             /**< The server lacks support for this feature. */
    NATS_NOT_YET_CONNECTED = 31,             /**< Initial connect failed; retrying in the background. */
    NATS_DRAINING = 32,                      /**< The connection or subscription is draining. */
    NATS_INVALID_QUEUE_NAME = 33,            /**< The queue group name is invalid. */
    NATS_NO_RESPONDERS = 34,                 /**< Nobody was listening on the request subject. */
    NATS_MISMATCH = 35,                      /**< JetStream consumer sequence mismatch detected. */
    NATS_MISSED_HEARTBEAT = 36,              /**< JetStream idle heartbeats from the server were missed. */
    NATS_LIMIT_REACHED = 37,                 /**< A byte or message limit of a fetch was reached. */
    NATS_PIN_ID_MISMATCH = 38,               /**< The pin id does not match the server's pinned client. */
    NATS_INVALID_CONFIG = 39,                /**< The configuration does not allow this operation. */
    NATS_MAX_STATUS_VALUE = 40               /**< Sentinel: one past the highest status code; keep last. */
} natsStatus;

/** Error codes the JetStream server reports in API responses. */
typedef enum
{
    JSAccountResourcesExceededErr = 10002,                /**< Account resource limits exceeded. */
    JSBadRequestErr = 10003,                              /**< The request was malformed. */
    JSClusterIncompleteErr = 10004,                       /**< Cluster returned incomplete results. */
    JSClusterNoPeersErr = 10005,                          /**< No peers are suitable for placement. */
    JSClusterNotActiveErr = 10006,                        /**< JetStream is not running in clustered mode. */
    JSClusterNotAssignedErr = 10007,                      /**< This server has no JetStream cluster assignment. */
    JSClusterNotAvailErr = 10008,                         /**< JetStream system is temporarily unavailable. */
    JSClusterNotLeaderErr = 10009,                        /**< The cluster cannot serve the request (not leader). */
    JSClusterRequiredErr = 10010,                         /**< JetStream clustering is required. */
    JSClusterTagsErr = 10011,                             /**< Tag-based placement unsupported for this operation. */
    JSConsumerCreateErr = 10012,                          /**< Consumer creation failed. */
    JSConsumerNameExistErr = 10013,                       /**< A consumer with that name already exists. */
    JSConsumerNotFoundErr = 10014,                        /**< No such consumer. */
    JSSnapshotDeliverSubjectInvalidErr = 10015,           /**< Snapshot deliver subject is invalid. */
    JSConsumerDurableNameNotInSubjectErr = 10016,         /**< Durable consumer requested without durable name in subject. */
    JSConsumerDurableNameNotMatchSubjectErr = 10017,      /**< Durable name in subject differs from request. */
    JSConsumerDurableNameNotSetErr = 10018,               /**< Durable consumer requested without a durable name. */
    JSConsumerEphemeralWithDurableInSubjectErr = 10019,   /**< Ephemeral consumer requested but subject carries a durable name. */
    JSConsumerEphemeralWithDurableNameErr = 10020,        /**< Ephemeral consumer requested but request carries a durable name. */
    JSStreamExternalApiOverlapErr = 10021,                /**< External API prefix overlaps. */
    JSStreamExternalDelPrefixOverlapsErr = 10022,         /**< External delivery prefix overlaps the stream subjects. */
    JSInsufficientResourcesErr = 10023,                   /**< Not enough resources. */
    JSStreamInvalidExternalDeliverySubjErr = 10024,       /**< External delivery prefix contains wildcards. */
    JSInvalidJSONErr = 10025,                             /**< The JSON payload is invalid. */
    JSMaximumConsumersLimitErr = 10026,                   /**< Consumer count exceeds the account limit. */
    JSMaximumStreamsLimitErr = 10027,                     /**< Stream count limit reached. */
    JSMemoryResourcesExceededErr = 10028,                 /**< Not enough memory resources. */
    JSMirrorConsumerSetupFailedErr = 10029,               /**< Mirror consumer setup failed. */
    JSMirrorMaxMessageSizeTooBigErr = 10030,              /**< Mirror max message size is smaller than its origin's. */
    JSMirrorWithSourcesErr = 10031,                       /**< A mirror cannot also have sources. */
    JSMirrorWithStartSeqAndTimeErr = 10032,               /**< A mirror cannot set both start sequence and start time. */
    JSMirrorWithSubjectFiltersErr = 10033,                /**< A mirror cannot have subject filters. */
    JSMirrorWithSubjectsErr = 10034,                      /**< A mirror cannot have its own subjects. */
    JSNoAccountErr = 10035,                               /**< No such account. */
    JSClusterUnSupportFeatureErr = 10036,                 /**< Feature unsupported in clustered mode. */
    JSNoMessageFoundErr = 10037,                          /**< No message matched. */
    JSNotEmptyRequestErr = 10038,                         /**< The request payload was expected to be empty. */
    JSNotEnabledForAccountErr = 10039,                    /**< JetStream is disabled for this account. */
    JSClusterPeerNotMemberErr = 10040,                    /**< The peer is not a cluster member. */
    JSRaftGeneralErr = 10041,                             /**< RAFT layer failure. */
    JSRestoreSubscribeFailedErr = 10042,                  /**< Could not subscribe for the snapshot restore. */
    JSSequenceNotFoundErr = 10043,                        /**< No such sequence. */
    JSClusterServerNotMemberErr = 10044,                  /**< The server is not a cluster member. */
    JSSourceConsumerSetupFailedErr = 10045,               /**< Source consumer setup failed. */
    JSSourceMaxMessageSizeTooBigErr = 10046,              /**< Source max message size is smaller than the target's. */
    JSStorageResourcesExceededErr = 10047,                /**< Not enough storage resources. */
    JSStreamAssignmentErr = 10048,                        /**< Stream assignment failed. */
    JSStreamCreateErr = 10049,                            /**< Stream creation failed. */
    JSStreamDeleteErr = 10050,                            /**< Stream deletion failed. */
    JSStreamGeneralError = 10051,                         /**< Unspecified stream failure. */
    JSStreamInvalidConfig = 10052,                        /**< The stream configuration is invalid. */
    JSStreamLimitsErr = 10053,                            /**< A stream limit was exceeded. */
    JSStreamMessageExceedsMaximumErr = 10054,             /**< The message is larger than allowed. */
    JSStreamMirrorNotUpdatableErr = 10055,                /**< Mirror settings cannot be changed. */
    JSStreamMismatchErr = 10056,                          /**< Stream name in subject differs from request. */
    JSStreamMsgDeleteFailed = 10057,                      /**< Message deletion failed. */
    JSStreamNameExistErr = 10058,                         /**< A stream with that name already exists. */
    JSStreamNotFoundErr = 10059,                          /**< No such stream. */
    JSStreamNotMatchErr = 10060,                          /**< The expected stream does not match. */
    JSStreamReplicasNotUpdatableErr = 10061,              /**< Replica count cannot be changed. */
    JSStreamRestoreErr = 10062,                           /**< Stream restore failed. */
    JSStreamSequenceNotMatchErr = 10063,                  /**< The expected stream sequence does not match. */
    JSStreamSnapshotErr = 10064,                          /**< Stream snapshot failed. */
    JSStreamSubjectOverlapErr = 10065,                    /**< Subjects overlap another stream's. */
    JSStreamTemplateCreateErr = 10066,                    /**< Template creation failed. */
    JSStreamTemplateDeleteErr = 10067,                    /**< Template deletion failed. */
    JSStreamTemplateNotFoundErr = 10068,                  /**< No such template. */
    JSStreamUpdateErr = 10069,                            /**< Stream update failed. */
    JSStreamWrongLastMsgIDErr = 10070,                    /**< The expected last message id does not match. */
    JSStreamWrongLastSequenceErr = 10071,                 /**< The expected last sequence does not match. */
    JSTempStorageFailedErr = 10072,                       /**< Could not open temporary storage for a restore. */
    JSTemplateNameNotMatchSubjectErr = 10073,             /**< Template name in subject differs from request. */
    JSStreamReplicasNotSupportedErr = 10074,              /**< More than one replica needs clustered mode. */
    JSPeerRemapErr = 10075,                               /**< Peer remapping failed. */
    JSNotEnabledErr = 10076,                              /**< JetStream is not enabled. */
    JSStreamStoreFailedErr = 10077,                       /**< Storing the message failed. */
    JSConsumerConfigRequiredErr = 10078,                  /**< A consumer configuration is required. */
    JSConsumerDeliverToWildcardsErr = 10079,              /**< The deliver subject contains wildcards. */
    JSConsumerPushMaxWaitingErr = 10080,                  /**< Push consumers cannot set max waiting. */
    JSConsumerDeliverCycleErr = 10081,                    /**< The deliver subject would create a cycle. */
    JSConsumerMaxPendingAckPolicyRequiredErr = 10082,     /**< Max ack pending needs an ack policy. */
    JSConsumerSmallHeartbeatErr = 10083,                  /**< Idle heartbeat must be at least 100ms. */
    JSConsumerPullRequiresAckErr = 10084,                 /**< Pull consumers need the explicit ack policy. */
    JSConsumerPullNotDurableErr = 10085,                  /**< Pull consumers need a durable name. */
    JSConsumerPullWithRateLimitErr = 10086,               /**< Pull consumers cannot have a rate limit. */
    JSConsumerMaxWaitingNegativeErr = 10087,              /**< Max waiting must be positive. */
    JSConsumerHBRequiresPushErr = 10088,                  /**< Idle heartbeats need a push consumer. */
    JSConsumerFCRequiresPushErr = 10089,                  /**< Flow control needs a push consumer. */
    JSConsumerDirectRequiresPushErr = 10090,              /**< Direct consumers must be push based. */
    JSConsumerDirectRequiresEphemeralErr = 10091,         /**< Direct consumers must be ephemeral. */
    JSConsumerOnMappedErr = 10092,                        /**< Direct consumer on a mapped consumer. */
    JSConsumerFilterNotSubsetErr = 10093,                 /**< The filter subject is outside the stream's subjects. */
    JSConsumerInvalidPolicyErr = 10094,                   /**< Invalid delivery policy. */
    JSConsumerInvalidSamplingErr = 10095,                 /**< Invalid sampling setting. */
    JSStreamInvalidErr = 10096,                           /**< The stream is invalid. */
    JSConsumerWQRequiresExplicitAckErr = 10098,           /**< Work-queue streams need explicit acks. */
    JSConsumerWQMultipleUnfilteredErr = 10099,            /**< Work-queue streams allow only one unfiltered consumer. */
    JSConsumerWQConsumerNotUniqueErr = 10100,             /**< Work-queue consumer filter is not unique. */
    JSConsumerWQConsumerNotDeliverAllErr = 10101,         /**< Work-queue consumers must use deliver-all. */
    JSConsumerNameTooLongErr = 10102,                     /**< The consumer name is too long. */
    JSConsumerBadDurableNameErr = 10103,                  /**< The durable name contains '.', '*' or '>'. */
    JSConsumerStoreFailedErr = 10104,                     /**< Consumer store creation failed. */
    JSConsumerExistingActiveErr = 10105,                  /**< The consumer exists and is active. */
    JSConsumerReplacementWithDifferentNameErr = 10106,    /**< Replacement durable configuration differs. */
    JSConsumerDescriptionTooLongErr = 10107,              /**< The consumer description is too long. */
    JSConsumerWithFlowControlNeedsHeartbeatsErr = 10108,  /**< Flow control also needs idle heartbeats. */
    JSStreamSealedErr = 10109,                            /**< The stream is sealed. */
    JSStreamPurgeFailedErr = 10110,                       /**< Stream purge failed. */
    JSStreamRollupFailedErr = 10111,                      /**< Stream rollup failed. */
    JSConsumerInvalidDeliverSubjectErr = 10112,           /**< The push deliver subject is invalid. */
    JSStreamMaxBytesRequiredErr = 10113,                  /**< The account requires streams to set max bytes. */
    JSConsumerMaxRequestBatchNegativeErr = 10114,         /**< Max request batch must be above zero. */
    JSConsumerMaxRequestExpiresToSmallErr = 10115,        /**< Max request expiry must exceed 1ms. */
    JSConsumerMaxDeliverBackoffErr = 10116,               /**< Max deliver must exceed the number of backoff entries. */
    JSStreamInfoMaxSubjectsErr = 10117,                   /**< Too many subjects to report. */
    JSStreamOfflineErr = 10118,                           /**< The stream is offline. */
    JSConsumerOfflineErr = 10119,                         /**< The consumer is offline. */
    JSNoLimitsErr = 10120,                                /**< No applicable JetStream limits. */
    JSConsumerMaxPendingAckExcessErr = 10121,             /**< Max ack pending is above the system limit. */
    JSStreamMaxStreamBytesExceededErr = 10122,            /**< Stream max bytes is above the account limit. */
    JSStreamMoveAndScaleErr = 10123,                      /**< Moving and scaling in one update is not allowed. */
    JSStreamMoveInProgressErr = 10124,                    /**< A stream move is already under way. */
    JSConsumerMaxRequestBatchExceededErr = 10125,         /**< Max request batch is above the server limit. */
    JSConsumerReplicasExceedsStreamErr = 10126,           /**< Consumer replicas exceed the stream's. */
    JSConsumerNameContainsPathSeparatorsErr = 10127,      /**< The consumer name contains path separators. */
    JSStreamNameContainsPathSeparatorsErr = 10128,        /**< The stream name contains path separators. */
    JSStreamMoveNotInProgressErr = 10129,                 /**< No stream move is under way. */
    JSStreamNameExistRestoreFailedErr = 10130,            /**< Restore failed: the stream name is taken. */
    JSConsumerCreateFilterSubjectMismatchErr = 10131,     /**< Filter in the create subject differs from the request. */
    JSConsumerCreateDurableAndNameMismatchErr = 10132,    /**< Durable and Name must be equal when both are given. */
    JSReplicasCountCannotBeNegativeErr = 10133,           /**< The replica count is negative. */
    JSConsumerReplicasShouldMatchStreamErr = 10134,       /**< Consumer replicas must equal the interest stream's. */
    JSConsumerMetadataLengthErr = 10135,                  /**< Consumer metadata is too large. */
    JSConsumerDuplicateFilterSubjectsErr = 10136,         /**< FilterSubject and FilterSubjects are mutually exclusive. */
    JSConsumerMultipleFiltersNotAllowedErr = 10137,       /**< Multi-filter consumers cannot use the subject based API. */
    JSConsumerOverlappingSubjectFiltersErr = 10138,       /**< Consumer filter subjects overlap. */
    JSConsumerEmptyFilterErr = 10139,                     /**< An entry of FilterSubjects is empty. */
    JSSourceDuplicateDetectedErr = 10140,                 /**< Duplicate source definition. */
    JSSourceInvalidStreamNameErr = 10141,                 /**< The source stream name is invalid. */
    JSMirrorInvalidStreamNameErr = 10142,                 /**< The mirror stream name is invalid. */
    JSSourceMultipleFiltersNotAllowedErr = 10144,         /**< A source cannot combine subject transforms with a single filter. */
    JSSourceInvalidSubjectFilterErr = 10145,              /**< Invalid source transform source. */
    JSSourceInvalidTransformDestinationErr = 10146,       /**< Invalid source transform destination. */
    JSSourceOverlappingSubjectFiltersErr = 10147,         /**< Source subject filters overlap. */
    JSConsumerAlreadyExistsErr = 10148,                   /**< CREATE on a consumer that exists with another configuration. */
    JSConsumerDoesNotExistErr = 10149,                    /**< UPDATE on a consumer that does not exist. */
    JSMirrorMultipleFiltersNotAllowedErr = 10150,         /**< A mirror cannot combine subject transforms with a single filter. */
    JSMirrorInvalidSubjectFilterErr = 10151,              /**< Invalid mirror transform source. */
    JSMirrorOverlappingSubjectFiltersErr = 10152,         /**< Mirror subject filters overlap. */
    JSConsumerInactiveThresholdExcessErr = 10153,         /**< Inactive threshold is above the system limit. */
    JSMirrorInvalidTransformDestinationErr = 10154,       /**< Invalid mirror transform destination. */
    JSStreamTransformInvalidSourceErr = 10155,            /**< Invalid stream transform source. */
    JSStreamTransformInvalidDestinationErr = 10156,       /**< Invalid stream transform destination. */
    JSPedanticErr = 10157,                                /**< Rejected by pedantic mode. */
    JSStreamDuplicateMessageConflictErr = 10158,          /**< A message with this id is already being processed. */
    JSConsumerPriorityPolicyWithoutGroupErr = 10159,      /**< A priority policy needs at least one priority group. */
    JSConsumerInvalidPriorityGroupErr = 10160,            /**< The priority group is not defined on this consumer. */
    JSConsumerEmptyGroupNameErr = 10161,                  /**< The group name is empty. */
    JSConsumerInvalidGroupNameErr = 10162,                /**< The group name is invalid (charset or length). */
    JSStreamExpectedLastSeqPerSubjectNotReadyErr = 10163, /**< Per-subject last sequence check is temporarily unavailable. */
    JSStreamWrongLastSequenceConstantErr = 10164,         /**< The expected last sequence does not match (constant variant). */
    JSMessageTTLInvalidErr = 10165,                       /**< The per-message TTL is invalid. */
    JSMessageTTLDisabledErr = 10166,                      /**< Per-message TTL is not enabled on the stream. */
    JSStreamTooManyRequestsErr = 10167,                   /**< Too many concurrent requests. */
    JSBatchPublishNotEnabledErr = 10174,                  /**< Atomic batch publish is disabled on the stream. */
    JSBatchPublishIncompleteErr = 10176,                  /**< The batch was abandoned before completion. */
    JSBatchPublishInvalidIDErr = 10179,                   /**< The batch id is invalid (longer than 64 characters). */
    JSBatchPublishSequenceMissingErr = 10175,             /**< A batch sequence number is missing. */
    JSBatchPublishSequenceExceedsLimitErr = 10199,        /**< The batch sequence is above the server limit. */
    JSBatchPublishUnsupportedHeaderErr = 10177,           /**< The batch uses an unsupported header. */
    JSBatchPublishDuplicateMessageIDErr = 10201           /**< The batch repeats a message id. */
} jsErrCode;

#ifdef __cplusplus
}
#endif

#endif /* STATUS_H_ */
