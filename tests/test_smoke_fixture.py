def test_world_builds(world):
    assert world.users["cw1"].org_id == world.orgs["g1"].id
