#!/bin/sh
# One KRaft node (broker and controller) of the test StatefulSet, started as Strimzi starts its
# pods: the node id is the pod name's ordinal (<cluster>-<pool>-<id>), the data lives on the
# pod's persistent volume and is formatted on first start only, clients inside the cluster are
# told the pod's DNS name and clients on the node its IP.
# Environment (from the manifest): POD_NAME, POD_IP, KAFKA_HEADLESS (the headless Service's
# FQDN), KAFKA_VOTERS, KAFKA_CLUSTER_ID, KAFKA_HEAP.
set -eu
id="${POD_NAME##*-}"
data="/var/lib/kafka/data/kafka-log$id"
host="$POD_NAME.$KAFKA_HEADLESS"
conf=/tmp/server.properties
cat >"$conf" <<PROPS
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$KAFKA_VOTERS
listeners=CONTROLLER://0.0.0.0:9090,REPLICATION://0.0.0.0:9091,PLAIN://0.0.0.0:9092,EXTERNAL://0.0.0.0:9094
advertised.listeners=REPLICATION://$host:9091,PLAIN://$host:9092,EXTERNAL://$POD_IP:9094
inter.broker.listener.name=REPLICATION
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,REPLICATION:PLAINTEXT,PLAIN:PLAINTEXT,EXTERNAL:PLAINTEXT
log.dirs=$data
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
default.replication.factor=3
min.insync.replicas=2
group.initial.rebalance.delay.ms=0
PROPS
# A recreated peer comes back with a new IP under the same name: resolve names again after
# 5 s instead of the JVM's default 30 s.
jvm="-Xmx${KAFKA_HEAP:-512m} -Xms${KAFKA_HEAP:-512m} -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15
  -Djava.awt.headless=true -Dsun.net.inetaddr.ttl=5 -Dkafka.logs.dir=/tmp/kafka-logs
  -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties"
cp='/opt/kafka/libs/*'
if [ ! -f "$data/meta.properties" ]; then
  java -Xmx256m -Dlog4j2.configurationFile=/opt/kafka/log4j2.properties -cp "$cp" \
    kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$conf"
fi
# shellcheck disable=SC2086 # $jvm is a list of flags
exec java $jvm -cp "$cp" kafka.Kafka "$conf"
