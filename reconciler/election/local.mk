# Leader election with a coordination.k8s.io Lease (issue 10)
