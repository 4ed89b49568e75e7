# syntax=docker/dockerfile:1.7
# The dev Kafka's runtime (deploy/kafka; docs/DEPLOY.md §10, "The image contract"): a Java 17
# runtime, /bin/sh and the Kafka jars in /opt/kafka/libs, uid 1000. The chart brings the
# configuration and the start script (`sh /etc/kafka/start.sh`), so the image sets no
# entrypoint of its own.
#
#   # the jars transport/broker/pom.xml pins, resolved on the host by the project's own code
#   # (scripts/cluster.py images does this), copied into the build context:
#   docker build -f docker/kafka.Dockerfile --build-arg KAFKA_LIBS=var/kafka-image/libs \
#     -t category-match/kafka:4.1.0 .
#
# Build args: BASE_IMAGE (pinned by digest; any Debian bookworm), KAFKA_LIBS (a folder of
# jars in the build context; .dockerignore keeps var/kafka-image).
ARG BASE_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${BASE_IMAGE}
ARG KAFKA_LIBS=var/kafka-image/libs
# Slim Debian images lack /usr/share/man, where the JRE's postinst links its man pages.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 kafka \
    && useradd --uid 1000 --gid 1000 --no-create-home --home-dir /tmp \
       --shell /usr/sbin/nologin kafka
COPY ${KAFKA_LIBS}/ /opt/kafka/libs/
RUN chmod -R a+rX /opt/kafka \
    && java -cp '/opt/kafka/libs/*' kafka.Kafka --version
LABEL org.opencontainers.image.title="category-match-kafka" \
      org.opencontainers.image.source="https://github.com/category-match/category-match" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV HOME=/tmp
WORKDIR /tmp
USER 1000:1000
CMD ["sh", "/etc/kafka/start.sh"]
