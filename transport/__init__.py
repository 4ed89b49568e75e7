"""Kafka transport: the one place where librdkafka clients are configured and built.

- :mod:`transport.configuration`: consumer, producer, transactional and reader settings,
  assembled from :class:`core.settings.Settings` (the only place they are written);
- :mod:`transport.clients`: construction of every client, with librdkafka's errors and logs
  routed through Python logging (:mod:`transport.logs`), refusals (a login, a certificate,
  an ACL) said once with their fix (:mod:`transport.access`);
- :mod:`transport.acls` / :mod:`transport.users`: the ACLs of each client role, written once,
  and SCRAM users (``catmatch acls``);
- :mod:`transport.consumer` / :mod:`transport.producer`: asyncio wrappers for the worker;
- :mod:`transport.admin`: reachability, topics, partitions and consumer lag;
- :mod:`transport.topics`: ``python -m transport.topics create``, the pipeline's topics from
  a settings file (the chart's topic-bootstrap Job, in the worker image);
- :mod:`transport.types`: ``TP``, the one ``(topic, partition)`` alias;
- :mod:`transport.broker`: the embedded Apache Kafka (one node or a cluster) for the demo
  and tests, plain or secured (:mod:`transport.broker.security`).

It imports only :mod:`core`. Importing it does not import confluent-kafka's admin API or
start anything.
"""
